import type { SearchHit } from "@tribalmemory/shared/store/memory-store";
import type Database from "better-sqlite3";
import type { FilterSql } from "./sqlite-filters.ts";
import type { VectorIndex } from "./vector-index.ts";

/** A statement for this SQL text, prepared once per store (`SqliteMemoryStore.sql`). */
export type StatementOf = (text: string) => Database.Statement;

/**
 * The two lookups both searches end with: which candidate rowids pass the filters and
 * visibility rules (ranked first, filtered after: cheaper than joining every match), and the
 * memory ids of the rowids kept, in rank order.
 */
export function visibleRids(sql: StatementOf, rids: number[], where: FilterSql): Set<number> {
  if (!rids.length) return new Set();
  const rows = sql(
    `SELECT m.rid FROM memories m WHERE m.rid IN (SELECT value FROM json_each(@rids)) AND ${where.sql}`,
  )
    .raw()
    .all({ ...where.params, rids: JSON.stringify(rids) }) as [number][];
  return new Set(rows.map((r) => r[0]));
}

export function idsOfRids(sql: StatementOf, hits: { rid: number; score: number }[]): SearchHit[] {
  if (!hits.length) return [];
  const rows = sql("SELECT rid, id FROM memories WHERE rid IN (SELECT value FROM json_each(?))")
    .raw()
    .all(JSON.stringify(hits.map((h) => h.rid))) as [number, string][];
  const idOf = new Map(rows);
  return hits.flatMap((h) => {
    const id = idOf.get(h.rid);
    return id ? [{ id, score: h.score }] : [];
  });
}

/**
 * The first `k` hits, in rank order, that pass the filters and visibility rules, with their
 * memory ids. Checked a few more than still wanted at a time, since most hits pass: a search
 * for 40 reads ~80 rows instead of every candidate (400 for vector search, where checking them
 * all cost ~0.45 ms of a 2.3 ms recall at LoCoMo size).
 */
export function firstVisible(
  sql: StatementOf,
  hits: { rid: number; score: number }[],
  where: FilterSql,
  k: number,
): SearchHit[] {
  const kept: SearchHit[] = [];
  const lookup = sql(
    `SELECT m.rid, m.id FROM memories m WHERE m.rid IN (SELECT value FROM json_each(@rids)) AND ${where.sql}`,
  ).raw();
  for (let at = 0; at < hits.length && kept.length < k; ) {
    const chunk = hits.slice(at, at + Math.max(2 * (k - kept.length), 16));
    at += chunk.length;
    const idOf = new Map(
      lookup.all({ ...where.params, rids: JSON.stringify(chunk.map((h) => h.rid)) }) as [number, string][],
    );
    for (const h of chunk) {
      const id = idOf.get(h.rid);
      if (id !== undefined && kept.length < k) kept.push({ id, score: h.score });
    }
  }
  return kept;
}

/** Below this many filtered rows, vector search scores them all exactly. */
const EXACT_SCAN_LIMIT = 3000;

/**
 * The k nearest visible memories in the vector index. A selective filter (tags, a period)
 * lists its rows first and scores those; otherwise candidates come by Hamming distance,
 * rescored exactly, then the visibility rules of SQL, more of them until k are kept.
 */
export function searchVectorIndex(
  sql: StatementOf,
  index: VectorIndex,
  vector: Float32Array,
  k: number,
  where: FilterSql,
): SearchHit[] {
  if (where.selective) {
    const rids = (
      sql(`SELECT m.rid FROM memories m WHERE ${where.sql}`).raw().all(where.params) as [number][]
    ).map((r) => r[0]);
    const hits =
      rids.length <= EXACT_SCAN_LIMIT
        ? index.scoreRids(vector, rids).sort((a, b) => b.score - a.score)
        : index.search(vector, Math.max(k * 4, 100), rids);
    return idsOfRids(sql, hits.slice(0, k));
  }
  let candidates = Math.max(k * 10, 200);
  for (;;) {
    const hits = index.search(vector, candidates);
    const kept = firstVisible(sql, hits, where, k);
    if (kept.length >= k || candidates >= index.size) return kept;
    candidates *= 4;
  }
}
