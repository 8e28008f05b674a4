import type { StoreStats } from "@tribalmemory/shared/store/memory-store";
import type Database from "better-sqlite3";

type Prepare = (text: string) => Database.Statement;

export function storeStats(db: Database.Database, sql: Prepare): StoreStats {
  const one = (text: string) => (sql(text).get() as { n: number }).n;
  const group = (text: string) =>
    Object.fromEntries((sql(text).all() as { k: string; n: number }[]).map((r) => [r.k, r.n]));
  const live = "deleted = 0 AND duplicate_of IS NULL";
  const pages = db.pragma("page_count", { simple: true }) as number;
  const pageSize = db.pragma("page_size", { simple: true }) as number;
  return {
    total_memories: one(`SELECT count(*) AS n FROM memories WHERE ${live}`),
    deleted: one("SELECT count(*) AS n FROM memories WHERE deleted = 1"),
    superseded: one(
      `SELECT count(DISTINCT supersedes) AS n FROM memories WHERE supersedes IS NOT NULL AND ${live}`,
    ),
    embedded: one("SELECT count(*) AS n FROM embeddings"),
    by_source_type: group(`SELECT source_type AS k, count(*) AS n FROM memories WHERE ${live} GROUP BY 1`),
    by_source_instance: group(
      `SELECT source_instance AS k, count(*) AS n FROM memories WHERE ${live} GROUP BY 1`,
    ),
    by_tag: group(
      `SELECT t.tag AS k, count(*) AS n FROM memory_tags t JOIN memories m ON m.rid = t.rid WHERE m.deleted = 0 AND m.duplicate_of IS NULL GROUP BY 1 ORDER BY 2 DESC LIMIT 100`,
    ),
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
