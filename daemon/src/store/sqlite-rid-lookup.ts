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
 * all cost ~0.45 ms of a 2.3 ms recall at LoCoMo size). Where few pass (a broad filter of vector
 * search), the next chunk is sized by the share passing so far. `seen` keeps each rowid's answer
 * across calls of one search, whose later calls rank more candidates.
 */
export function firstVisible(
  sql: StatementOf,
  hits: { rid: number; score: number }[],
  where: FilterSql,
  k: number,
  seen: Map<number, string | null> = new Map(),
): SearchHit[] {
  const kept: SearchHit[] = [];
  const lookup = sql(
    `SELECT m.rid, m.id FROM memories m WHERE m.rid IN (SELECT value FROM json_each(@rids)) AND ${where.sql}`,
  ).raw();
  let checked = 0;
  let passed = 0;
  for (let at = 0; at < hits.length && kept.length < k; ) {
    const wanted = k - kept.length;
    const share = checked >= 16 ? Math.max(passed / checked, 0.01) : 1;
    const size = Math.min(Math.max(Math.ceil((2 * wanted) / share), 16), 4096);
    const chunk = hits.slice(at, at + size);
    at += chunk.length;
    const unknown = chunk.filter((h) => !seen.has(h.rid)).map((h) => h.rid);
    if (unknown.length) {
      const idOf = new Map(
        lookup.all({ ...where.params, rids: JSON.stringify(unknown) }) as [number, string][],
      );
      for (const rid of unknown) seen.set(rid, idOf.get(rid) ?? null);
    }
    for (const h of chunk) {
      const id = seen.get(h.rid) ?? null;
      checked++;
      if (id === null) continue;
      passed++;
      if (kept.length < k) kept.push({ id, score: h.score });
    }
  }
  return kept;
}

/** Below this many filtered rows, vector search scores them all exactly. */
const EXACT_SCAN_LIMIT = 3000;

/**
 * The k nearest visible memories in the vector index.
 *
 * A selective filter (tags, a source, a period) of at most `EXACT_SCAN_LIMIT` rows: those rows
 * are scored exactly. A broader one: its rows are read from their indexes alone (`narrow`, no
 * visibility), the nearest of them by Hamming distance are rescored, and visibility is checked
 * on the best few; one that more than half the index passes is searched as without a filter.
 * Listing every row with its visibility first, as before, cost more than the search at 1M
 * memories (one `source_instance` of seven: 207 ms of SQL, 18 ms from its index).
 *
 * Without a selective filter: candidates by Hamming distance, rescored exactly, then the
 * visibility rules of SQL, more of them until k are kept.
 */
export function searchVectorIndex(
  sql: StatementOf,
  index: VectorIndex,
  vector: Float32Array,
  k: number,
  where: FilterSql,
): SearchHit[] {
  // Without narrowing conditions (`narrow` is null exactly when the filter is not selective).
  if (where.narrow === null) return nearestVisible(sql, index, vector, k, where);
  const listed = (statement: string, limit: number) =>
    sql(`${statement} LIMIT @limit`)
      .pluck()
      .all({ ...where.params, limit }) as number[];
  const few = listed(`SELECT m.rid FROM memories m WHERE ${where.sql}`, EXACT_SCAN_LIMIT + 1);
  if (few.length <= EXACT_SCAN_LIMIT) {
    return idsOfRids(
      sql,
      index
        .scoreRids(vector, few)
        .sort((a, b) => b.score - a.score)
        .slice(0, k),
    );
  }
  // A filter most memories pass is searched as no filter, each candidate checked against it:
  // listing every rowid cost more than the search (1M, a type every memory has: 195 ms).
  const half = Math.floor(index.size / 2);
  const rids = listed(where.narrow, half + 1);
  return nearestVisible(sql, index, vector, k, where, rids.length > half ? null : rids);
}

/**
 * Nearest candidates (of `allowed` rowids only, when given) checked against `where`, more of them
 * until k pass or there are no more.
 */
function nearestVisible(
  sql: StatementOf,
  index: VectorIndex,
  vector: Float32Array,
  k: number,
  where: FilterSql,
  allowed: number[] | null = null,
): SearchHit[] {
  const seen = new Map<number, string | null>();
  for (let candidates = allowed ? Math.max(k * 4, 100) : Math.max(k * 10, 200); ; candidates *= 4) {
    const hits = index.search(vector, candidates, allowed);
    const kept = firstVisible(sql, hits, where, k, seen);
    if (kept.length >= k || candidates >= index.size || (allowed && hits.length < candidates)) return kept;
  }
}
