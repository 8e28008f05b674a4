import { createHash } from "node:crypto";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { AuthContext } from "../auth/api-keys.ts";
import type { RelayDatabase } from "../store/database.ts";
import { recordRequestRow } from "../store/pg-accounting.ts";

export interface AuditEntry {
  action: string;
  target: string | null;
  details: Record<string, unknown> | null;
}
export interface UsageCount {
  field: "queries" | "writes" | "embeds";
  n: number;
}

/**
 * The header a client may name its device with (daemons send their actor id); recorded in the
 * audit row as the client says it, like the key's name: it identifies, it does not authorize.
 */
export const DEVICE_HEADER = "x-tribal-device";

/** A request's audit row (when `audit` is given) and its usage count, in one statement. */
export async function recordRequest(
  db: RelayDatabase,
  auth: AuthContext,
  audit: AuditEntry | null,
  usage: UsageCount | null,
  deviceId: string | null = null,
): Promise<void> {
  const count = (field: UsageCount["field"]) => (usage?.field === field ? usage.n : 0);
  await recordRequestRow(db, {
    workspaceId: auth.workspaceId,
    keyId: auth.keyId,
    userId: auth.userId,
    deviceId,
    audit,
    usage: { queries: count("queries"), writes: count("writes"), embeds: count("embeds") },
  });
}

/** The recall fields that narrow a search, without the query text. */
const RECALL_FILTERS = [
  "limit",
  "min_relevance",
  "tags",
  "source_instance",
  "source_type",
  "after",
  "before",
  "include_superseded",
  "sources",
];

/**
 * A recall's audit details: the query's SHA-256, never its text (a query can hold what the
 * memories hold), the filters it used and how many results it got.
 */
export function recallAudit(
  input: Record<string, unknown>,
  payload: unknown,
  action = "memory.recall",
): AuditEntry {
  const query = typeof input.query === "string" ? input.query : String(input.q ?? "");
  const filters: Record<string, unknown> = {};
  for (const k of RECALL_FILTERS) if (input[k] !== undefined && input[k] !== null) filters[k] = input[k];
  let resultCount: number | null = null;
  if (typeof payload === "string") {
    try {
      const results = (JSON.parse(payload) as { results?: unknown }).results;
      resultCount = Array.isArray(results) ? results.length : null;
    } catch {
      resultCount = null;
    }
  }
  return {
    action,
    target: null,
    details: {
      query_sha256: createHash("sha256").update(query, "utf8").digest("hex"),
      filters,
      result_count: resultCount,
    },
  };
}

function deviceOf(req: FastifyRequest): string | null {
  const header = req.headers[DEVICE_HEADER];
  const named = typeof header === "string" ? header : (req.body as { device?: unknown } | null)?.device;
  return typeof named === "string" && named.trim() ? named.trim().slice(0, 200) : null;
}

/**
 * One audit row for every successful write, delete, recall and export, and usage metering, in
 * one place and one statement per request: the recall's audit row rides on the statement that
 * already counted the query, so auditing recalls costs no round trip.
 */
export function installRequestRecording(app: FastifyInstance, db: RelayDatabase): void {
  app.addHook("onSend", async (req, reply, payload) => {
    const auth = req.auth;
    const route = req.routeOptions.url ?? "";
    if (!auth || reply.statusCode >= 400 || !route.startsWith("/v1/")) return payload;
    const device = deviceOf(req);
    if (route === "/v1/recall") {
      const input = (req.method === "GET" ? req.query : req.body) as Record<string, unknown>;
      await recordRequest(db, auth, recallAudit(input ?? {}, payload), { field: "queries", n: 1 }, device);
    } else if (route === "/v1/sessions/search") {
      // A search of transcripts is a recall too: audited the same way, never its text.
      const input = (req.query ?? {}) as Record<string, unknown>;
      await recordRequest(db, auth, recallAudit(input, payload, "session.search"), null, device);
    } else if (route === "/v1/embed") await recordRequest(db, auth, null, { field: "embeds", n: 1 }, device);
    else if (route === "/v1/export") {
      // The streaming GET is recorded as it starts: what was asked for, by whom.
      const input = ((req.method === "GET" ? req.query : req.body) ?? {}) as Record<string, unknown>;
      const { format, tags, date_from, date_to, include_embeddings } = input;
      await recordRequest(
        db,
        auth,
        {
          action: "memory.export",
          target: null,
          details: { method: req.method, format, tags, date_from, date_to, include_embeddings },
        },
        null,
        device,
      );
    } else if (
      req.method !== "GET" &&
      !route.startsWith("/v1/auth/") &&
      route !== "/v1/sync/push" &&
      route !== "/v1/sync/pull"
    ) {
      const params = (req.params ?? {}) as Record<string, string>;
      const body = (req.body ?? {}) as Record<string, unknown>;
      // A batch names each memory it wrote: a member's data export finds them by it.
      const written =
        typeof payload === "string"
          ? [...new Set([...payload.matchAll(/"memory_id":"([0-9a-f-]{36})"/g)].map((m) => m[1]))]
          : [];
      const target =
        params.id ?? (typeof body.memory_id === "string" ? body.memory_id : undefined) ?? written[0] ?? null;
      const purge = (req.query as Record<string, string>)?.purge === "true";
      await recordRequest(
        db,
        auth,
        {
          action: `${req.method} ${route}${purge ? "?purge=true" : ""}`,
          target,
          details: { status: reply.statusCode, ...(written.length > 1 ? { memory_ids: written } : {}) },
        },
        { field: "writes", n: 1 },
        device,
      );
    }
    return payload;
  });
}
