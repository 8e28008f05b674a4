import type { MemoryFilters } from "@tribalmemory/shared/memory/types";
import type { SearchHit } from "@tribalmemory/shared/store/memory-store";
import type { Sql } from "./database.ts";
import { filterSql, Params } from "./pg-filters.ts";
import { vectorText } from "./pg-vectors.ts";

/**
 * A workspace with at most this many memories is read by its own rows (the `workspace_id`
 * primary key), never through an index shared by every tenant: its vector search is exact and
 * its term counts read its own rows' lexemes. One workspace of 1,000 among a million rows is
 * 0.1% of the shared HNSW and GIN indexes: the HNSW scan walks the graph past other tenants'
 * rows (iterative scan) and a frequent term's GIN posting list holds every tenant's rows.
 * Measured on the 2-core bench machine at load average ~18 (`pnpm bench relay-scale`, and the
 * same statements on 250k random 512-d rows): the exact scan costs ~7-14 µs a row (1,000 rows
 * 5-14 ms, 50,000 rows 300-490 ms); the HNSW scan of a 50,000-memory workspace in a 250,000-row
 * index (651 MB, past shared_buffers) 230-340 ms. They cross near 35,000; 20,000 keeps the
 * exact scan (exact results) where it is clearly the faster one.
 */
export const SMALL_WORKSPACE_MAX = 20_000;

/** How long a workspace's memory count and the set of valid indexes are trusted. */
const PATH_CACHE_MS = 60_000;

export type VectorPath = "exact" | "hnsw";

/**
 * Which scan a workspace's vector search takes: exact for a small workspace or a width without
 * a valid HNSW index (ensureVectorIndexes builds it; until then exact is correct, only slower),
 * else the index. The count and the index set are cached per process for a minute: a stale
 * answer only costs speed, never results.
 */
export class VectorPaths {
  private readonly sizes = new Map<string, { n: number; at: number }>();
  private indexed: { dims: Set<number>; at: number } | null = null;

  async choose(sql: Sql, workspaceId: string, dims: number): Promise<VectorPath> {
    const now = Date.now();
    if (!this.indexed || now - this.indexed.at > PATH_CACHE_MS) {
      const rows = await sql.query<{ name: string }>(
        `SELECT c.relname AS name FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
         WHERE c.relname LIKE 'memories\\_embedding\\_%' AND i.indisvalid`,
      );
      this.indexed = {
        dims: new Set(rows.map((r) => Number(r.name.slice("memories_embedding_".length)))),
        at: now,
      };
    }
    if (!this.indexed.dims.has(dims)) return "exact";
    let size = this.sizes.get(workspaceId);
    if (!size || now - size.at > PATH_CACHE_MS) {
      const [{ n }] = await sql.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM memories WHERE workspace_id = $1",
        [workspaceId],
      );
      if (this.sizes.size > 10_000) this.sizes.clear();
      size = { n, at: now };
      this.sizes.set(workspaceId, size);
    }
    return size.n <= SMALL_WORKSPACE_MAX ? "exact" : "hnsw";
  }
}

/** One per process: every workspace's store shares the index set and the size cache. */
const sharedPaths = new VectorPaths();

/**
 * The statement of a vector search by either path. `hnsw`: the cast to vector(d) and
 * `embedding_dims = d` match the partial HNSW index of that width; hnsw.iterative_scan
 * (relaxed_order, set per connection) keeps walking the graph until k rows of this workspace
 * pass the filter, and the materialised CTE puts the relaxed order right. `exact`: the distance
 * on the uncast column matches no index, so the planner reads the workspace's rows by its key
 * and sorts them all; ties go by id so the result is deterministic.
 */
export function vectorSearchStatement(
  workspaceId: string,
  model: { modelId: string; dims: number },
  vector: Float32Array,
  k: number,
  filters: MemoryFilters,
  path: VectorPath,
): { text: string; values: unknown[] } {
  const d = model.dims;
  const p = new Params();
  const where = filterSql(workspaceId, filters, p);
  const v = p.add(vectorText(vector));
  const mid = p.add(model.modelId);
  const visible = `${where} AND m.embedding_dims = ${d} AND m.embedding_model = ${mid} AND m.embedding_hash = m.content_hash`;
  const text =
    path === "hnsw"
      ? `WITH c AS MATERIALIZED (
           SELECT m.id, m.embedding::vector(${d}) <=> ${v}::vector(${d}) AS dist FROM memories m WHERE ${visible}
           ORDER BY m.embedding::vector(${d}) <=> ${v}::vector(${d}) LIMIT ${p.add(k)})
         SELECT id, dist::float8 AS dist FROM c ORDER BY dist, id`
      : `SELECT m.id, (m.embedding <=> ${v}::vector)::float8 AS dist FROM memories m WHERE ${visible}
         ORDER BY dist, m.id LIMIT ${p.add(k)}`;
  return { text, values: p.values };
}

/** Nearest visible memories by cosine similarity, by the path `paths` chooses (or the one given). */
export async function vectorSearchIn(
  sql: Sql,
  workspaceId: string,
  model: { modelId: string; dims: number },
  vector: Float32Array,
  k: number,
  filters: MemoryFilters,
  path: VectorPaths | VectorPath = sharedPaths,
): Promise<SearchHit[]> {
  const chosen = typeof path === "string" ? path : await path.choose(sql, workspaceId, model.dims);
  // The HNSW path leaves the choice to the planner: held to the index (enable_sort and the
  // scans off), a 20,000-memory workspace of 40,000 rows took 332 ms at recall@40 0.64 on the
  // bench's hashing vectors, against 57-116 ms for the sort of its own rows the planner picks.
  const { text, values } = vectorSearchStatement(workspaceId, model, vector, k, filters, chosen);
  const rows = await sql.query<{ id: string; dist: number }>(text, values);
  return rows.map((r) => ({ id: r.id, score: 1 - r.dist }));
}

/** The statement of a keyword search: visible memories matching any of the terms, best ts_rank first. */
export function keywordSearchStatement(
  workspaceId: string,
  terms: string[],
  k: number,
  filters: MemoryFilters,
): { text: string; values: unknown[] } {
  const p = new Params();
  const where = filterSql(workspaceId, filters, p);
  // OR of the terms, never one phrase: each term is its own plainto_tsquery.
  const query = terms.map((t) => `plainto_tsquery('english', ${p.add(t)})`).join(" || ");
  return {
    text: `SELECT m.id, ts_rank(m.tsv, q)::float8 AS score FROM memories m, (SELECT ${query} AS q) qq
     WHERE ${where} AND m.tsv @@ q ORDER BY score DESC, m.id LIMIT ${p.add(k)}`,
    values: p.values,
  };
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
  const { text, values } = keywordSearchStatement(workspaceId, terms, k, filters);
  return sql.query<{ id: string; score: number }>(text, values);
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
      // A small workspace: one pass over its own rows, counting the lexemes of each tsvector
      // (a term of one lexeme, nearly all; any other is matched row by row). The terms come
      // from unnest, so the planner cannot tell a rare term from one in every tenant's rows and
      // ANDs the shared GIN index with the key; measured at 250k rows, 1,000 per workspace, 6
      // terms, on a loaded machine: 490 ms that way, 100 ms testing each row, 30 ms this way.
      // A large workspace: the GIN index, term by term.
      const rows = await sql.query<{ t: string; n: number }>(
        docs <= SMALL_WORKSPACE_MAX
          ? `WITH u AS MATERIALIZED (
               SELECT t, tsvector_to_array(to_tsvector('english', t)) AS lex FROM unnest($2::text[]) AS t),
             single AS MATERIALIZED (
               SELECT l.lexeme, count(*)::int AS n FROM memories m, unnest(m.tsv) AS l
               WHERE m.workspace_id = $1 AND NOT m.deleted AND m.duplicate_of IS NULL AND l.lexeme IN (SELECT u.lex[1] FROM u WHERE cardinality(u.lex) = 1)
               GROUP BY l.lexeme)
             SELECT u.t, CASE WHEN cardinality(u.lex) = 1 THEN coalesce((SELECT n FROM single WHERE single.lexeme = u.lex[1]), 0)
               ELSE (SELECT count(*)::int FROM memories WHERE ${live} AND (tsv @@ plainto_tsquery('english', u.t)) IS TRUE) END AS n
             FROM u`
          : `SELECT u.t, (SELECT count(*)::int FROM memories WHERE ${live} AND tsv @@ plainto_tsquery('english', u.t)) AS n
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
