import { createHash, timingSafeEqual } from "node:crypto";
import { TribalError } from "@tribalmemory/shared/errors";
import type { FastifyInstance } from "fastify";
import { PROMETHEUS_CONTENT_TYPE } from "../metrics/registry.ts";
import type { RelayMetrics } from "../metrics/relay-metrics.ts";

declare module "fastify" {
  interface FastifyRequest {
    /** The error body's code (and quota resource) of this request's answer, for the metrics. */
    answeredError: { code: string; resource?: unknown } | null;
  }
}

/**
 * Counts every answered request (route pattern, status, latency; quota and auth refusals by the
 * error code in the body, so the routes that refuse need no metrics code) and serves
 * `GET /metrics` in the Prometheus text format.
 *
 * `/metrics` is outside `/v1`, so no API key: a scraper is infrastructure, not a tenant. With
 * `token` set it needs `Authorization: Bearer <token>`; without, anyone who reaches the port may
 * scrape. That is acceptable because the metrics hold no workspace ids, keys or content (only
 * traffic shape), and on loopback only local processes reach it; off loopback the relay says at
 * start that its metrics are open, so an operator sets a token or firewalls the path.
 */
export function installMetrics(app: FastifyInstance, metrics: RelayMetrics, token: string | null): void {
  app.decorateRequest("answeredError", null);
  app.addHook("onSend", async (req, reply, payload) => {
    // Error answers are small JSON (`{error: {code, details}}`); read the code before it is sent.
    if (reply.statusCode >= 400 && typeof payload === "string" && payload.length < 65_536) {
      try {
        const err = (JSON.parse(payload) as { error?: { code?: unknown; details?: { resource?: unknown } } })
          .error;
        if (typeof err?.code === "string")
          req.answeredError = { code: err.code, resource: err.details?.resource };
      } catch {
        // not JSON: no code to count
      }
    }
    return payload;
  });
  app.addHook("onResponse", async (req, reply) => {
    metrics.observeRequest(
      req.method,
      req.routeOptions.url,
      reply.statusCode,
      reply.elapsedTime / 1000,
      req.answeredError,
    );
  });

  const expected = token ? digest(token) : null;
  app.get("/metrics", { config: { public: true } }, async (req, reply) => {
    if (expected) {
      const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization?.trim() ?? "");
      if (!m || !timingSafeEqual(digest(m[1]), expected)) {
        throw new TribalError(
          "METRICS_TOKEN_REQUIRED",
          "This relay's metrics need `Authorization: Bearer <metrics token>` (TRIBAL_MEMORY_METRICS_TOKEN where it was started).",
        );
      }
    }
    return reply.type(PROMETHEUS_CONTENT_TYPE).send(metrics.registry.render());
  });
}

/** Equal-length digests, so the comparison takes the same time whatever the guess. */
function digest(token: string): Buffer {
  return createHash("sha256").update(token).digest();
}
