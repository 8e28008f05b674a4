import type { SearchHit } from "@tribalmemory/shared/store/memory-store";
import type Database from "better-sqlite3";
import type { FilterSql } from "./sqlite-filters.ts";

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
