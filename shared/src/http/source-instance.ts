import type { FastifyRequest } from "fastify";
import { MAX_SOURCE_INSTANCE_CHARS } from "../memory/size-policy.ts";

/** Clients name their agent in this header when a body names none. */
export const SOURCE_INSTANCE_HEADER = "x-tribal-source-instance";

/** The request's `X-Tribal-Source-Instance`, trimmed and capped; undefined when absent or blank. */
export function sourceInstanceHeader(req: FastifyRequest): string | undefined {
  const h = req.headers[SOURCE_INSTANCE_HEADER];
  return typeof h === "string" && h.trim() ? h.trim().slice(0, MAX_SOURCE_INSTANCE_CHARS) : undefined;
}
