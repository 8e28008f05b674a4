import type { RelayDatabase } from "./database.ts";

/**
 * The relay's bookkeeping tables beside the memories: usage per month, the audit log, devices
 * and their cursors, and a key's revocation as a socket re-checks it. SQL lives here so the
 * HTTP plugins and the sync hub stay storage-free.
 */

export interface RequestRecord {
  workspaceId: string;
  keyId: string | null;
  /** Who the request acted for (the key's user, or a session's), and from which device. */
  userId: string | null;
  deviceId: string | null;
  audit: { action: string; target: string | null; details: Record<string, unknown> | null } | null;
  usage: { queries: number; writes: number; embeds: number };
}

/**
 * A request's audit row (when `audit` is given) and its usage count, in one statement and
 * one transaction (tm_record_request, migration 4, with user and device since migration 7);
 * it took two transactions of ~4 round trips each per write.
 */
export async function recordRequestRow(db: RelayDatabase, r: RequestRecord): Promise<void> {
  await db.statement("SELECT tm_record_request($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)", [
    r.workspaceId,
    r.keyId,
    r.userId,
    r.deviceId,
    r.audit?.action ?? null,
    r.audit?.target ?? null,
    r.audit?.details ? JSON.stringify(r.audit.details) : null,
    new Date().toISOString().slice(0, 7),
    r.usage.queries,
    r.usage.writes,
    r.usage.embeds,
  ]);
}

export interface UsagePeriod {
  period: string;
  queries: number;
  writes: number;
  embeds: number;
}

/** The workspace's metered counts, newest month first (24 at most). */
export async function usagePeriods(db: RelayDatabase, workspaceId: string): Promise<UsagePeriod[]> {
  return db.tx(workspaceId, (sql) =>
    sql.query<UsagePeriod>(
      "SELECT period, queries::float8 AS queries, writes::float8 AS writes, embeds::float8 AS embeds FROM usage WHERE workspace_id = $1 ORDER BY period DESC LIMIT 24",
      [workspaceId],
    ),
  );
}

/** A device's actor and cursor as its socket reports them (cursor null: keep the stored one). */
export async function recordDeviceCursor(
  db: RelayDatabase,
  workspaceId: string,
  device: string,
  actor: string | null,
  cursor: number | null,
): Promise<void> {
  await db.tx(workspaceId, (sql) =>
    sql.query(
      `INSERT INTO devices (workspace_id, device_id, actor, cursor) VALUES ($1, $2, $3, coalesce($4::bigint, 0))
       ON CONFLICT (workspace_id, device_id) DO UPDATE SET actor = coalesce(EXCLUDED.actor, devices.actor),
         cursor = coalesce($4::bigint, devices.cursor), last_seen_at = now()`,
      [workspaceId, device, actor, cursor],
    ),
  );
}

/**
 * The sync devices of the workspace by the Automerge actor they reported (a memory's history
 * names who changed it by them); actors no device reported are absent.
 */
export async function devicesByActor(
  db: RelayDatabase,
  workspaceId: string,
  actors: string[],
): Promise<Map<string, string>> {
  if (!actors.length) return new Map();
  const rows = await db.tx(workspaceId, (sql) =>
    sql.query<{ actor: string; device_id: string }>(
      "SELECT actor, device_id FROM devices WHERE workspace_id = $1 AND actor = ANY($2::text[]) ORDER BY last_seen_at",
      [workspaceId, actors],
    ),
  );
  return new Map(rows.map((r) => [r.actor, r.device_id]));
}

/** Whether the key exists in the workspace and is not revoked. */
export async function keyIsActive(db: RelayDatabase, workspaceId: string, keyId: string): Promise<boolean> {
  const [row] = await db.tx(workspaceId, (sql) =>
    sql.query<{ revoked_at: Date | null }>(
      "SELECT revoked_at FROM api_keys WHERE workspace_id = $1 AND id = $2",
      [workspaceId, keyId],
    ),
  );
  return Boolean(row) && !row.revoked_at;
}
