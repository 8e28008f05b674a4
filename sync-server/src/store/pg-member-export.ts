import type { RelayDatabase } from "./database.ts";

/**
 * What the relay holds about one member of a workspace, for their data export (GDPR): their
 * user row (no password hash), membership, keys (no hashes), and which memories were written
 * through their keys or devices. Their audit rows are read with `streamAuditRows`
 * (`aboutUser`), the memories themselves through the workspace's store.
 */
export interface MemberRecords {
  user: Record<string, unknown> | null;
  membership: Record<string, unknown> | null;
  keys: Record<string, unknown>[];
  /** Devices that synced with their keys (from the audit log). */
  devices: string[];
  /** Memories written through their keys (audit targets) or devices (the change log). */
  memoryIds: string[];
}

export async function memberRecords(
  db: RelayDatabase,
  workspaceId: string,
  userId: string,
): Promise<MemberRecords> {
  return db.tx(workspaceId, async (sql) => {
    const [user] = await sql.query<Record<string, unknown>>(
      "SELECT id, email, name, created_at FROM users WHERE id = $1",
      [userId],
    );
    const [membership] = await sql.query<Record<string, unknown>>(
      "SELECT workspace_id, user_id, role FROM memberships WHERE workspace_id = $1 AND user_id = $2",
      [workspaceId, userId],
    );
    const keys = await sql.query<Record<string, unknown>>(
      `SELECT id, name, prefix, scopes, created_at, last_used_at, revoked_at FROM api_keys
       WHERE workspace_id = $1 AND user_id = $2 ORDER BY created_at`,
      [workspaceId, userId],
    );
    const acts = `SELECT a.device_id, a.target, a.details FROM audit_log a WHERE a.workspace_id = $1
      AND (a.user_id = $2 OR a.key_id IN (SELECT k.id FROM api_keys k WHERE k.workspace_id = $1 AND k.user_id = $2))`;
    const devices = await sql.query<{ device_id: string }>(
      `SELECT DISTINCT device_id FROM (${acts}) x WHERE device_id IS NOT NULL ORDER BY device_id`,
      [workspaceId, userId],
    );
    const memories = await sql.query<{ id: string }>(
      `WITH acts AS (${acts}),
       ids AS (
         SELECT target AS id FROM acts WHERE target IS NOT NULL
         UNION SELECT jsonb_array_elements_text(details->'memory_ids') FROM acts
           WHERE jsonb_typeof(details->'memory_ids') = 'array'
         UNION SELECT c.doc_id FROM changes c WHERE c.workspace_id = $1
           AND c.device_id IN (SELECT device_id FROM acts WHERE device_id IS NOT NULL))
       SELECT m.id FROM memories m WHERE m.workspace_id = $1 AND m.id IN (SELECT id FROM ids) ORDER BY m.id`,
      [workspaceId, userId],
    );
    return {
      user: user ?? null,
      membership: membership ?? null,
      keys,
      devices: devices.map((d) => d.device_id),
      memoryIds: memories.map((m) => m.id),
    };
  });
}
