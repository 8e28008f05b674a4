import type { MemoryFilters } from "@tribalmemory/shared/memory/types";
import type { SearchHit } from "@tribalmemory/shared/store/memory-store";
import type { Sql } from "./database.ts";
import { filterSql, Params } from "./pg-filters.ts";
import { vectorText } from "./pg-vectors.ts";

/** Nearest visible memories by cosine similarity, over the HNSW index of the model's width. */
export async function vectorSearchIn(
  sql: Sql,
  workspaceId: string,
  model: { modelId: string; dims: number },
  vector: Float32Array,
  k: number,
  filters: MemoryFilters,
): Promise<SearchHit[]> {
  const d = model.dims;
  const p = new Params();
  const where = filterSql(workspaceId, filters, p);
  const v = p.add(vectorText(vector));
  const mid = p.add(model.modelId);
  // The cast to vector(d) and `embedding_dims = d` match the partial HNSW index of that width;
  // hnsw.iterative_scan (set per connection) keeps filtered scans from returning too few rows.
  const rows = await sql.query<{ id: string; dist: number }>(
    `SELECT m.id, (m.embedding::vector(${d}) <=> ${v}::vector(${d}))::float8 AS dist FROM memories m
     WHERE ${where} AND m.embedding_dims = ${d} AND m.embedding_model = ${mid} AND m.embedding_hash = m.content_hash
     ORDER BY m.embedding::vector(${d}) <=> ${v}::vector(${d}) LIMIT ${p.add(k)}`,
    p.values,
  );
  return rows.map((r) => ({ id: r.id, score: 1 - r.dist }));
}

/** Visible memories matching any of the terms, best ts_rank first. */
export async function keywordSearchIn(
  sql: Sql,
  workspaceId: string,
  terms: string[],
  k: number,
  filters: MemoryFilters,
): Promise<SearchHit[]> {
  if (!terms.length) return [];
  const p = new Params();
  const where = filterSql(workspaceId, filters, p);
  // OR of the terms, never one phrase: each term is its own plainto_tsquery.
  const query = terms.map((t) => `plainto_tsquery('english', ${p.add(t)})`).join(" || ");
  return sql.query<{ id: string; score: number }>(
    `SELECT m.id, ts_rank(m.tsv, q)::float8 AS score FROM memories m, (SELECT ${query} AS q) qq
     WHERE ${where} AND m.tsv @@ q ORDER BY score DESC, m.id LIMIT ${p.add(k)}`,
    p.values,
  );
}

/**
 * Memory rows, and how many live ones match each term (the tsvector), for IDF weights. Document
 * frequencies are kept per term until the live memory count moves by a tenth.
 */
export class TermFrequencies {
  private readonly dfCache = new Map<string, { df: number; docs: number }>();

  async read(sql: Sql, workspaceId: string, terms: string[]): Promise<{ docs: number; df: number[] }> {
    const live = "workspace_id = $1 AND NOT deleted AND duplicate_of IS NULL";
    // N counts every memory row, deleted included, as the daemon does (MemoryStore.termFrequencies).
    const [{ docs }] = await sql.query<{ docs: number }>(
      "SELECT count(*)::int AS docs FROM memories WHERE workspace_id = $1",
      [workspaceId],
    );
    const df = terms.map((t) => {
      const c = this.dfCache.get(t);
      return c && Math.abs(c.docs - docs) <= docs / 10 ? c.df : -1;
    });
    const unknown = [...new Set(terms.filter((_, i) => df[i] < 0))];
    if (unknown.length) {
      const rows = await sql.query<{ t: string; n: number }>(
        `SELECT u.t, (SELECT count(*)::int FROM memories WHERE ${live} AND tsv @@ plainto_tsquery('english', u.t)) AS n
         FROM unnest($2::text[]) AS u(t)`,
        [workspaceId, unknown],
      );
      if (this.dfCache.size > 10_000) this.dfCache.clear();
      for (const r of rows) this.dfCache.set(r.t, { df: r.n, docs });
      const got = new Map(rows.map((r) => [r.t, r.n]));
      terms.forEach((t, i) => {
        if (df[i] < 0) df[i] = got.get(t) ?? 0;
      });
    }
    return { docs, df };
  }
}
