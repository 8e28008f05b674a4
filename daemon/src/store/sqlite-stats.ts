import type { StoreStats } from "@tribalmemory/shared/store/memory-store";
import type Database from "better-sqlite3";
import { liveRid } from "./sqlite-filters.ts";
import type { ReadRows } from "./sqlite-read-router.ts";

type Prepare = (text: string) => Database.Statement;

const LIVE = "deleted = 0 AND duplicate_of IS NULL";

/**
 * The store's figures (/v1/stats, tribal_stats). At 1M memories they took 3.1 s warm and 6.1 s
 * from a cold page cache on the event loop; the groups by instance and by tag now check each
 * memory in the live index instead of its row (1.0 → 0.4 s and 1.35 → 0.46 s warm), forgotten
 * memories are counted over their own partial index (a scan of every row: 1.7 s cold, 0.17 s
 * warm), and everything runs on `rows` (the read worker).
 */
export async function storeStats(rows: ReadRows, db: Database.Database): Promise<StoreStats> {
  const one = async (text: string) => (await rows<{ n: number }>(text))[0]?.n ?? 0;
  const group = async (text: string) =>
    Object.fromEntries((await rows<{ k: string; n: number }>(text)).map((r) => [r.k, r.n]));
  const pages = db.pragma("page_count", { simple: true }) as number;
  const pageSize = db.pragma("page_size", { simple: true }) as number;
  const [total, deleted, superseded, embedded, bySourceType, byInstance, byTag] = await Promise.all([
    one(`SELECT count(*) AS n FROM memories WHERE ${LIVE}`),
    one("SELECT count(*) AS n FROM memories INDEXED BY memories_forgotten WHERE deleted = 1"),
    one(`SELECT count(DISTINCT supersedes) AS n FROM memories WHERE supersedes IS NOT NULL AND ${LIVE}`),
    one("SELECT count(*) AS n FROM embeddings"),
    group(`SELECT source_type AS k, count(*) AS n FROM memories WHERE ${LIVE} GROUP BY 1`),
    group(
      `SELECT m.source_instance AS k, count(*) AS n FROM memories m INDEXED BY memories_instance WHERE ${liveRid("m")} GROUP BY 1`,
    ),
    group(
      `SELECT t.tag AS k, count(*) AS n FROM memory_tags t WHERE ${liveRid("t")} GROUP BY 1 ORDER BY 2 DESC LIMIT 100`,
    ),
  ]);
  return {
    total_memories: total,
    deleted,
    superseded,
    embedded,
    by_source_type: bySourceType,
    by_source_instance: byInstance,
    by_tag: byTag,
    storage_bytes: pages * pageSize,
  };
}

/** Every part of a write or none: rows without their document, change or FTS entry. */
export interface ConsistencyReport {
  memories: number;
  withoutDoc: number;
  withoutChange: number;
  ftsRows: number;
  visible: number;
}

export function consistencyReport(sql: Prepare): ConsistencyReport {
  const n = (text: string) => (sql(text).get() as { n: number }).n;
  return {
    memories: n("SELECT count(*) AS n FROM memories"),
    withoutDoc: n(
      "SELECT count(*) AS n FROM memories m WHERE NOT EXISTS (SELECT 1 FROM docs d WHERE d.rid = m.rid)",
    ),
    withoutChange: n(
      "SELECT count(*) AS n FROM memories m WHERE NOT EXISTS (SELECT 1 FROM changes c WHERE c.doc_id = m.id)",
    ),
    ftsRows: n("SELECT count(*) AS n FROM memories_fts"),
    visible: n("SELECT count(*) AS n FROM memories WHERE deleted = 0 AND duplicate_of IS NULL"),
  };
}
