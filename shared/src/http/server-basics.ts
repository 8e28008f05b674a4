import { isUtf8 } from "node:buffer";
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { TribalError } from "../errors.ts";
import { installOpenApi } from "./openapi.ts";
import { installZodValidation } from "./route-schemas.ts";

/**
 * Body parsing and error mapping shared by daemon and relay: one place turns every failure
 * into `{error:{code,message}}` with the right status, never `200 {success:false}`.
 */
export function installServerBasics(
  app: FastifyInstance,
  log?: { error: (obj: object, msg: string) => void },
): void {
  // Routes declare zod schemas; one compiler parses them into VALIDATION_FAILED (route-schemas.ts).
  installZodValidation(app);
  // Before any route, so the document sees them all; both servers serve the same /v1 API.
  installOpenApi(app);
  // Fastify parses text/plain bodies by default; a browser sends those cross-origin with no
  // preflight, so no route may read one.
  app.removeContentTypeParser("text/plain");
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", { parseAs: "buffer" }, (req, body: Buffer, done) => {
    const refused = refuseMediaType(req.headers["content-type"], req.routeOptions.url);
    if (refused) return done(refused, undefined);
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
  app.addContentTypeParser(["application/x-ndjson", "application/jsonl"], (req, payload, done) => {
    const refused = refuseMediaType(req.headers["content-type"], req.routeOptions.url);
    done(refused, refused ? undefined : payload);
  });

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

/**
 * Fastify's `frameworkErrors` option: errors it raises before any hook or handler runs (a
 * malformed percent-escape in the path, FST_ERR_BAD_URL) get the same `{error:{code}}` body
 * as every other failure instead of Fastify's own `{"error":"Bad Request"}`. Found by fuzzing.
 */
export function answerFrameworkError(err: FastifyError, _req: FastifyRequest, reply: FastifyReply): void {
  const e =
    err.code === "FST_ERR_BAD_URL"
      ? new TribalError("INVALID_URL", "The URL path has a malformed percent-escape; encode it as UTF-8.")
      : toTribalError(err);
  reply.status(e.status).send(e.toJSON());
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
    return unsupportedMediaType();
  }
  if (code === "FST_ERR_CTP_EMPTY_JSON_BODY" || code === "FST_ERR_CTP_INVALID_JSON_BODY") {
    return new TribalError("INVALID_JSON", "The body is empty or not valid JSON.");
  }
  if ((err as FastifyError).statusCode && (err as FastifyError).statusCode! < 500) {
    return new TribalError("VALIDATION_FAILED", err.message);
  }
  return new TribalError("INTERNAL", "Internal error. The log has details; please report it.");
}

/** The one route that reads a JSONL stream (memory-routes' `POST /v1/import`); every other body is JSON. */
const JSONL_ROUTES = new Set(["/v1/import"]);
const JSONL_TYPES = new Set(["application/x-ndjson", "application/jsonl"]);

/**
 * Null when this route reads a body of this Content-Type, else the 415 to answer. Parameters
 * other than `charset=utf-8` are refused too: routes pick JSON or JSONL by the header, and
 * `text/plain; a=ndjson` or `application/json; a=ndjson` must not steer a body into the wrong
 * reader.
 */
export function refuseMediaType(
  header: string | undefined,
  routeUrl: string | undefined,
): TribalError | null {
  const [type, ...params] = (header ?? "").split(";").map((p) => p.trim().toLowerCase());
  const accepted = type === "application/json" || (JSONL_TYPES.has(type) && JSONL_ROUTES.has(routeUrl ?? ""));
  if (!accepted) return unsupportedMediaType();
  for (const p of params) {
    if (p === "") continue;
    const [name, value = ""] = p.split("=").map((s) => s.trim());
    if (name !== "charset" || !["utf-8", "utf8", '"utf-8"'].includes(value)) return unsupportedMediaType();
  }
  return null;
}

function unsupportedMediaType(): TribalError {
  return new TribalError(
    "UNSUPPORTED_MEDIA_TYPE",
    "Unsupported Content-Type. Send application/json (POST /v1/import also takes application/x-ndjson), charset=utf-8 at most.",
  );
}
