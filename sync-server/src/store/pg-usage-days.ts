import type { RelayDatabase } from "./database.ts";

/**
 * Usage per UTC day (migration 8): the request counts `tm_record_request` adds to today's row,
 * and the workspace's size as seen that day. SQL lives here so the usage route stays
 * storage-free.
 */

export interface UsageDay {
  /** `YYYY-MM-DD`, UTC. */
  day: string;
  queries: number;
  writes: number;
  embeds: number;
  /** Null on a day no request saw the count. */
  memories: number | null;
  storage_bytes: number | null;
  agents: number | null;
}

/**
 * The last `days` days up to today (UTC), oldest first, one entry per day: a day without
 * requests has zero counts and null sizes, so a chart needs no gap-filling of its own.
 */
export async function usageDays(db: RelayDatabase, workspaceId: string, days: number): Promise<UsageDay[]> {
  return db.tx(workspaceId, (sql) =>
    sql.query<UsageDay>(
      `SELECT to_char(g.day, 'YYYY-MM-DD') AS day,
              coalesce(d.queries, 0)::float8 AS queries, coalesce(d.writes, 0)::float8 AS writes,
              coalesce(d.embeds, 0)::float8 AS embeds, d.memories::float8 AS memories,
              d.storage_bytes::float8 AS storage_bytes, d.agents
       FROM generate_series((now() AT TIME ZONE 'UTC')::date - ($2::int - 1), (now() AT TIME ZONE 'UTC')::date, interval '1 day') AS g(day)
       LEFT JOIN usage_days d ON d.workspace_id = $1 AND d.day = g.day::date
       ORDER BY g.day`,
      [workspaceId, days],
    ),
  );
}

/**
 * Today's memory count, storage bytes and agents as `GET /v1/usage` computed them (storage is too dear
 * to sum on every request, so it is recorded where it is summed anyway).
 */
export async function recordSizeOfToday(
  db: RelayDatabase,
  workspaceId: string,
  size: { memories: number; storageBytes: number | null; agents: number },
): Promise<void> {
  await db.tx(workspaceId, (sql) =>
    sql.query(
      `INSERT INTO usage_days AS d (workspace_id, day, memories, storage_bytes, agents)
         VALUES ($1, (now() AT TIME ZONE 'UTC')::date, $2, $3, $4)
       ON CONFLICT (workspace_id, day) DO UPDATE SET memories = EXCLUDED.memories,
         storage_bytes = coalesce(EXCLUDED.storage_bytes, d.storage_bytes), agents = EXCLUDED.agents`,
      [workspaceId, size.memories, size.storageBytes, size.agents],
    ),
  );
}
