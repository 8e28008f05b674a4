import { isUtf8 } from "node:buffer";
import type { FastifyError, FastifyInstance } from "fastify";
import { TribalError } from "../errors.ts";

/**
 * Body parsing and error mapping shared by daemon and relay: one place turns every failure
 * into `{error:{code,message}}` with the right status, never `200 {success:false}`.
 */
export function installServerBasics(
  app: FastifyInstance,
  log?: { error: (obj: object, msg: string) => void },
): void {
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", { parseAs: "buffer" }, (_req, body: Buffer, done) => {
    if (body.length === 0) return done(null, undefined);
    if (!isUtf8(body)) {
      return done(
        new TribalError("INVALID_JSON", "The body is not valid UTF-8. Send JSON encoded as UTF-8."),
        undefined,
      );
    }
    try {
      done(null, JSON.parse(body.toString("utf8")));
    } catch (err) {
      done(
        new TribalError("INVALID_JSON", `The body is not valid JSON: ${(err as Error).message}`),
        undefined,
      );
    }
  });
  // JSONL import streams: the route reads the raw body itself.
  app.addContentTypeParser(["application/x-ndjson", "application/jsonl"], (_req, payload, done) =>
    done(null, payload),
  );

  app.setErrorHandler((err: FastifyError | TribalError, _req, reply) => {
    const e = toTribalError(err);
    if (e.code === "INTERNAL") log?.error({ err }, "request failed");
    reply.status(e.status).send(e.toJSON());
  });
  app.setNotFoundHandler((req, reply) => {
    const e = new TribalError(
      "ROUTE_NOT_FOUND",
      `No route ${req.method} ${req.url.split("?")[0]}. The API lives under /v1.`,
    );
    reply.status(e.status).send(e.toJSON());
  });
}

function toTribalError(err: FastifyError | TribalError): TribalError {
  if (err instanceof TribalError) return err;
  const code = (err as FastifyError).code;
  if (code === "FST_ERR_CTP_BODY_TOO_LARGE") {
    return new TribalError(
      "PAYLOAD_TOO_LARGE",
      "The request body is too large. Use batch or JSONL import for bulk data.",
    );
  }
  if (code === "FST_ERR_CTP_INVALID_MEDIA_TYPE") {
    return new TribalError("INVALID_JSON", "Unsupported Content-Type. Send application/json.");
  }
  if (code === "FST_ERR_CTP_EMPTY_JSON_BODY" || code === "FST_ERR_CTP_INVALID_JSON_BODY") {
    return new TribalError("INVALID_JSON", "The body is empty or not valid JSON.");
  }
  if ((err as FastifyError).statusCode && (err as FastifyError).statusCode! < 500) {
    return new TribalError("VALIDATION_FAILED", err.message);
  }
  return new TribalError("INTERNAL", "Internal error. The log has details; please report it.");
}
