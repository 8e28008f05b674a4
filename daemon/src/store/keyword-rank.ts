import type Database from "better-sqlite3";
import { hasFtsScorer } from "./fts-extension.ts";
import { ftsMatchAny, type InformativeTerms, type TermFrequencies } from "./informative-terms.ts";
import { KEYWORD_COLUMN_WEIGHTS } from "./sqlite-thread-fts.ts";

/**
 * BM25's best memories over the whole keyword index, rare terms first.
 *
 * FTS5 scores every memory that matches any query term before it sorts: ~0.45 µs a match, so a
 * query whose terms are common costs what their posting lists hold (16k matches, 7 ms at 100k
 * memories; 60–290 ms at 1M). Most of those matches hold only the common terms and rank low.
 * So when the terms' postings exceed `RARE_FIRST_POSTINGS`, the terms are cut into the rarer
 * half (and more while their postings fit it) and the rest, and only memories holding a rare
 * term are candidates:
 *  1. those holding a rare term and a common one (`rare AND common`: FTS5 skips through the
 *     common terms' lists instead of scoring them);
 *  2. those holding two rare terms (`r1 AND (r2 OR r3)`, `r2 AND r3`: each by its rarest one);
 *  3. only when 1 and 2 hold fewer than `limit` memories, every memory holding a rare term.
 * Each expression names each term once, so BM25 is exactly the one query's: merged (a memory's
 * highest score counts every term it holds), the memories holding two terms come in BM25's exact
 * order. Step 3 always ran before; at 1M it cost 20 of the ranking's 28 ms (p50, one thread).
 *
 * What it gives up: a memory holding only the commoner half of the terms is not a candidate,
 * nor, once `limit` memories hold two of the terms, one holding a single rare term and nothing
 * else (BM25 may rank a short one of those above them; fewer matched terms rank after more, as
 * coordination-level matching ranks). Measured against scoring every match (lab, one thread,
 * thread columns, top 50, the two rankings interleaved query by query):
 *  - the scale bench's corpus at 1M: top 10 1.000 → 0.996 the same, top 50 0.986 → 0.985; p50
 *    32.0 → 10.5 ms, p95 84 → 45 ms;
 *  - the peers bench's corpus at 1M: top 10 0.994 → 0.994, top 50 0.973 → 0.970; p50 36.0 →
 *    11.1 ms, p95 155 → 70 ms; at 100k: top 10 1.000 → 0.999, top 50 0.997 → 0.966, p50 4.4 →
 *    2.8 ms.
 * Before either cut, at 100k the top 40 were 0.999 of every match's and p50 9.2 ms; at 1M 66 ms.
 * The rarest term alone kept only 0.75 of the top 40 at 1M.
 *
 * Scoring: with the scorer built (fts-extension.ts), each statement scores with `tm_bm25`, which
 * is bm25() given each term's count (InformativeTerms caches them) instead of counting every
 * posting of every term again per statement, and which skips reading the size of a row whose
 * score at its smallest possible size cannot reach the best `limit` so far: a function reading
 * only that size (a lookup in the index's size table) cost 0.42 µs a match, bm25() 0.47, one
 * reading the term positions 0.10. The same rows and scores as bm25()
 * (tested); measured at 1M (lab, one thread, scale corpus, 300 queries interleaved): this
 * ranking p50 10.0 → 8.0 ms, p95 48.9 → 26.7 ms, every top 40 identical; scoring every match of
 * a query 61.5 → 20.0 ms (125k matches).
 */
export const RARE_FIRST_POSTINGS = 2000;

export interface RankedRow {
  rid: number;
  score: number;
}

/** A WHERE clause over alias `m` (memories) and its parameters: `FilterSql` without its flag. */
export interface RowFilter {
  sql: string;
  params: Record<string, unknown>;
}

/**
 * Rowids `[from, to)`: one part of a ranking split over read workers (sqlite-read-router.ts).
 * FTS5 seeks its posting lists to `from` and stops at `to`, so a part costs its share of the
 * matches; BM25's statistics are the whole index's, so the parts' scores compare.
 */
export interface RowidRange {
  from: number;
  to: number;
}

/** Each row once, with its highest score. */
function bestPerRow(rows: RankedRow[]): RankedRow[] {
  const best = new Map<number, number>();
  for (const r of rows) best.set(r.rid, Math.max(best.get(r.rid) ?? 0, r.score));
  return [...best].map(([rid, score]) => ({ rid, score }));
}

/** The `limit` best of rows, by score, then rowid (as FTS5 ties). */
export function bestFirst(rows: RankedRow[], limit: number): RankedRow[] {
  return rows.sort((a, b) => b.score - a.score || a.rid - b.rid).slice(0, limit);
}

export class KeywordRanker {
  private readonly db: Database.Database;
  private readonly terms: InformativeTerms;
  private readonly budget: number;
  /** Per filter shape ("" for none): recall runs the same few. */
  private readonly statements = new Map<string, Database.Statement>();

  /** Scores with `tm_bm25` (given counts), or `bm25()` (counts each term per statement). */
  private readonly counted: boolean;

  constructor(
    db: Database.Database,
    terms: InformativeTerms,
    options: { budget?: number; counted?: boolean } = {},
  ) {
    this.db = db;
    this.terms = terms;
    this.budget = options.budget ?? RARE_FIRST_POSTINGS;
    this.counted = options.counted ?? hasFtsScorer(db);
  }

  /**
   * The `limit` best rows by BM25 for `terms` OR-ed (less the uninformative ones), best first:
   * in the memory's own text and tags, or with `thread` in its neighbours' text too. With
   * `filter`, only the memories it lets through (joined to each match: a selective filter).
   * With `range`, only the memories whose rowids it holds.
   */
  top(
    terms: string[],
    limit: number,
    thread: boolean,
    filter: RowFilter | null = null,
    known?: TermFrequencies,
    range: RowidRange | null = null,
  ): RankedRow[] {
    const { terms: kept, dfs, docs } = this.terms.weigh(terms, known);
    const split = dfs && kept.length > 1 ? this.rareFirst(kept, dfs) : null;
    // The count weigh read (or was given): not read a second time for the phrases' counts.
    const hits = this.phraseHits(kept, thread, dfs, docs);
    const search = (...groups: string[][]) => this.search(groups, hits, limit, thread, filter, range);
    if (!split) return search(kept);
    const { rare, common } = split;
    // Memories holding a rare term and a common one, scored with every term; then those holding
    // two rare terms, each found by its rarest one (`r1 AND (r2 OR r3)`, `r2 AND r3`) and scored
    // with every rare term it could hold. A memory in several lists: its highest score counts
    // every term it holds.
    const rows = search(rare, common);
    for (let i = 0; i < rare.length - 1; i++) rows.push(...search([rare[i]], rare.slice(i + 1)));
    const holdingTwo = bestPerRow(rows);
    if (holdingTwo.length >= limit) return bestFirst(holdingTwo, limit);
    return bestFirst(bestPerRow([...holdingTwo, ...search(rare)]), limit);
  }

  /**
   * The postings `top` would read for `terms` (the document frequencies of those it keeps, one
   * term alone included): what a ranking costs, before it runs.
   */
  postings(terms: string[], known: TermFrequencies): number {
    // No `dfs` when every term is kept unweighed: one term, or a small store.
    const { dfs } = this.terms.weigh(terms, known);
    return (dfs ?? known.df).reduce((sum, df) => sum + df, 0);
  }

  /**
   * The rarer half of the terms (rarest first), more while their postings fit the budget, and
   * the rest; null when every term's postings fit it.
   */
  private rareFirst(terms: string[], dfs: number[]): { rare: string[]; common: string[] } | null {
    const total = dfs.reduce((a, b) => a + b, 0);
    if (total <= this.budget) return null;
    const order = terms.map((term, i) => ({ term, df: dfs[i] })).sort((a, b) => a.df - b.df);
    const half = Math.ceil(terms.length / 2);
    const rare: string[] = [];
    let postings = 0;
    for (const { term, df } of order) {
      if (rare.length >= half && postings + df > this.budget) break;
      rare.push(term);
      postings += df;
    }
    return { rare, common: order.slice(rare.length).map((t) => t.term) };
  }

  /**
   * How many memories hold each term, as BM25 counts them for this search (`tm_bm25`'s
   * argument, cached per term by InformativeTerms); null with plain `bm25()`, which counts.
   */
  private phraseHits(
    kept: string[],
    thread: boolean,
    dfs: number[] | null,
    docs: number | undefined,
  ): Map<string, number> | null {
    if (!this.counted) return null;
    // `dfs` are the own columns' counts, given for two terms or more in a store worth weighing.
    const counts = thread || !dfs ? this.terms.documentFrequencies(kept, docs, thread) : dfs;
    return new Map(kept.map((term, i) => [term, counts[i]]));
  }

  /** The groups of terms OR-ed, the groups AND-ed; each term once, so each is one phrase. */
  private search(
    groups: string[][],
    hits: Map<string, number> | null,
    limit: number,
    thread: boolean,
    filter: RowFilter | null,
    range: RowidRange | null,
  ): RankedRow[] {
    const expression =
      groups.length === 1 ? ftsMatchAny(groups[0]) : groups.map((g) => `(${ftsMatchAny(g)})`).join(" AND ");
    const match = thread ? expression : `{content tags} : (${expression})`;
    // FTS5 numbers phrases in the order the expression names them.
    const counts = hits ? groups.flat().map((term) => hits.get(term) ?? -1) : [];
    return this.statement(filter?.sql ?? "", range !== null).all({
      ...filter?.params,
      ...range,
      match,
      limit,
      ...(this.counted ? { hits: counts.join(" ") } : {}),
    }) as RankedRow[];
  }

  private statement(filterSql: string, ranged: boolean): Database.Statement {
    const key = `${ranged ? "r" : "-"}${filterSql}`;
    let st = this.statements.get(key);
    if (!st) {
      // The score once per row, sorted by its alias: tm_bm25 keeps the best `limit` it returned.
      const score = this.counted
        ? `-tm_bm25(memories_fts, @hits, @limit, ${KEYWORD_COLUMN_WEIGHTS})`
        : `-bm25(memories_fts, ${KEYWORD_COLUMN_WEIGHTS})`;
      const within = ranged ? "AND memories_fts.rowid >= @from AND memories_fts.rowid < @to" : "";
      st = this.db.prepare(
        filterSql
          ? `SELECT m.rid AS rid, ${score} AS score FROM memories_fts JOIN memories m ON m.rid = memories_fts.rowid
             WHERE memories_fts MATCH @match ${within} AND ${filterSql} ORDER BY score DESC LIMIT @limit`
          : `SELECT rowid AS rid, ${score} AS score FROM memories_fts
             WHERE memories_fts MATCH @match ${within} ORDER BY score DESC LIMIT @limit`,
      );
      if (this.statements.size > 64) this.statements.clear();
      this.statements.set(key, st);
    }
    return st;
  }
}
