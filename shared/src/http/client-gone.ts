import type { FastifyReply } from "fastify";

/**
 * An AbortSignal that fires when the client closes its connection before its response is
 * written. Not Fastify's `request.signal`: that listens to the request's `close`, which Node
 * emits once the body is read, so it reads aborted for every client that still waits
 * (measured on Fastify 5.12, Node 24).
 */
export function clientGoneSignal(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  const res = reply.raw;
  if (res.destroyed && !res.writableFinished) controller.abort();
  else
    res.once("close", () => {
      if (!res.writableFinished) controller.abort();
    });
  return controller.signal;
}
