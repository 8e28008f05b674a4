import type { RelayDatabase } from "./database.ts";

/**
 * The relay side of the expiry sweep (migration 10): which workspaces have a live memory past
 * its expiry, and, once a workspace's batch is forgotten, when its next one expires.
 */

/** Workspaces whose earliest live expiry is at or before `nowMs`, earliest first. */
export async function workspacesWithExpired(
  db: RelayDatabase,
  nowMs: number,
  limit: number,
): Promise<string[]> {
  const rows = await db.tx(null, (sql) =>
    sql.query<{ workspace_id: string }>(
      "SELECT workspace_id FROM expiry_schedule WHERE next_ms <= $1 ORDER BY next_ms LIMIT $2",
      [nowMs, limit],
    ),
  );
  return rows.map((r) => r.workspace_id);
}

/**
 * Recompute a workspace's next expiry from its live memories (inside the workspace, so
 * row-level security applies); no row when none is left to expire.
 */
export async function rescheduleExpiry(db: RelayDatabase, workspaceId: string): Promise<void> {
  await db.tx(workspaceId, async (sql) => {
    // Locked first: a memory written meanwhile waits for this transaction, then its trigger
    // lowers (or re-creates) the row, instead of this update overwriting what it scheduled.
    await sql.query("SELECT 1 FROM expiry_schedule WHERE workspace_id = $1 FOR UPDATE", [workspaceId]);
    const [row] = await sql.query<{ next: string | null }>(
      `SELECT min(expires_ms) AS next FROM memories
       WHERE workspace_id = $1 AND expires_ms IS NOT NULL AND NOT deleted AND duplicate_of IS NULL`,
      [workspaceId],
    );
    if (row?.next === null || row?.next === undefined) {
      await sql.query("DELETE FROM expiry_schedule WHERE workspace_id = $1", [workspaceId]);
    } else {
      await sql.query("UPDATE expiry_schedule SET next_ms = $2 WHERE workspace_id = $1", [
        workspaceId,
        Number(row.next),
      ]);
    }
  });
}
