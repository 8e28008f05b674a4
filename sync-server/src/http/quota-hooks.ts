import { sourceInstanceHeader } from "@tribalmemory/shared/http/source-instance";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { QuotaGuard } from "../plans/quota.ts";

/** HTTP writes whose memories name a source_instance: each one is an agent of the plan. */
const AGENT_WRITES = new Set(["/v1/remember", "/v1/remember/batch", "/v1/correct"]);

/**
 * The plans' limits on the HTTP API, before the handler runs (bodies are validated by then):
 * a recall over the month's queries answers 429 with Retry-After; a write naming a writer new
 * this month past the agent limit answers 402. The memory limit itself is checked where every
 * write ends, in the ingest transaction (PgMemoryStore.quota), so no path can go around it.
 */
export function installQuotaHooks(app: FastifyInstance, quota: QuotaGuard): void {
  app.addHook("preHandler", async (req, reply) => {
    const auth = req.auth;
    const route = req.routeOptions.url ?? "";
    if (!auth) return;
    if (route === "/v1/recall") {
      try {
        await quota.checkQuery(auth.workspaceId);
      } catch (err) {
        const retry = (err as { details?: { retry_after_s?: unknown } }).details?.retry_after_s;
        if (typeof retry === "number") reply.header("retry-after", String(retry));
        throw err;
      }
    } else if (req.method === "POST" && AGENT_WRITES.has(route)) {
      for (const instance of instancesOf(req)) await quota.admitAgent(auth.workspaceId, instance, "instance");
    }
  });
}

/**
 * The source_instance each memory of the request names, as memory-routes.ts assigns it (body,
 * else header). A write naming none is the key's own, not an agent's: the relay's default
 * instance is not counted.
 */
function instancesOf(req: FastifyRequest): Set<string> {
  const fallback = sourceInstanceHeader(req) ?? null;
  const body = (req.body ?? {}) as { source_instance?: unknown; memories?: { source_instance?: unknown }[] };
  const named = (m: { source_instance?: unknown }) =>
    typeof m.source_instance === "string" && m.source_instance ? m.source_instance : fallback;
  const all = Array.isArray(body.memories) ? body.memories.map(named) : [named(body)];
  return new Set(all.filter((i): i is string => i !== null));
}
