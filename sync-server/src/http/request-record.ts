import type { FastifyInstance } from "fastify";
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

/** A request's audit row (when `audit` is given) and its usage count, in one statement. */
export async function recordRequest(
  db: RelayDatabase,
  auth: AuthContext,
  audit: AuditEntry | null,
  usage: UsageCount | null,
): Promise<void> {
  const count = (field: UsageCount["field"]) => (usage?.field === field ? usage.n : 0);
  await recordRequestRow(db, {
    workspaceId: auth.workspaceId,
    keyId: auth.keyId,
    audit,
    usage: { queries: count("queries"), writes: count("writes"), embeds: count("embeds") },
  });
}

/** One audit row for every successful write or delete, and usage metering, in one place. */
export function installRequestRecording(app: FastifyInstance, db: RelayDatabase): void {
  app.addHook("onSend", async (req, reply, payload) => {
    const auth = req.auth;
    const route = req.routeOptions.url ?? "";
    if (!auth || reply.statusCode >= 400 || !route.startsWith("/v1/")) return payload;
    if (route === "/v1/recall") await recordRequest(db, auth, null, { field: "queries", n: 1 });
    else if (route === "/v1/embed") await recordRequest(db, auth, null, { field: "embeds", n: 1 });
    else if (
      req.method !== "GET" &&
      !route.startsWith("/v1/auth/") &&
      route !== "/v1/sync/push" &&
      route !== "/v1/sync/pull"
    ) {
      const params = (req.params ?? {}) as Record<string, string>;
      const body = (req.body ?? {}) as Record<string, unknown>;
      const fromPayload =
        typeof payload === "string" ? /"memory_id":"([0-9a-f-]{36})"/.exec(payload)?.[1] : undefined;
      const target =
        params.id ?? (typeof body.memory_id === "string" ? body.memory_id : undefined) ?? fromPayload ?? null;
      const purge = (req.query as Record<string, string>)?.purge === "true";
      await recordRequest(
        db,
        auth,
        {
          action: `${req.method} ${route}${purge ? "?purge=true" : ""}`,
          target,
          details: { status: reply.statusCode },
        },
        { field: "writes", n: 1 },
      );
    }
    return payload;
  });
}
