import type Database from "better-sqlite3";
import { ftsMatchAny, type InformativeTerms, type TermFrequencies } from "./informative-terms.ts";
import { KEYWORD_COLUMN_WEIGHTS } from "./sqlite-thread-fts.ts";

/**
 * BM25's best memories over the whole keyword index, rare terms first.
 *
 * FTS5 scores every memory that matches any query term before it sorts: ~0.45 µs a match, so a
 * query whose terms are common costs what their posting lists hold (16k matches, 7 ms at 100k
 * memories; 60–290 ms at 1M). Most of those matches hold only the common terms and rank low.
 * So when the terms' postings exceed `RARE_FIRST_POSTINGS`, the rarer half of the terms (and
 * more while their postings fit it) are searched alone, and the memories holding one of them
 * and a common term are searched with `rare AND common`: FTS5 then skips through the common
 * terms' lists instead of scoring them, and scores each such memory with every term (each term
 * once in the expression, so BM25 is exactly the one query's). Merged, the two give BM25's exact
 * order over every memory that holds a rare term.
 *
 * What it gives up: a memory holding only the commoner half of the terms is not a candidate.
 * Measured on the synthetic corpus against scoring every match (same run, interleaved): at 100k
 * memories the top 40 were 0.999 the same (top 10: 1.000), p50 9.2 → 5.4 ms, p95 36 → 11 ms;
 * at 1M 0.985 (top 10: 0.995), p50 66 → 30 ms, p95 287 → 82 ms. The rarest term alone would
 * halve that again, but kept only 0.75 of the top 40 at 1M.
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

  constructor(db: Database.Database, terms: InformativeTerms, options: { budget?: number } = {}) {
    this.db = db;
    this.terms = terms;
    this.budget = options.budget ?? RARE_FIRST_POSTINGS;
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
    const { terms: kept, dfs } = this.terms.weigh(terms, known);
    const split = dfs && kept.length > 1 ? this.rareFirst(kept, dfs) : null;
    const search = (expression: string) => this.search(expression, limit, thread, filter, range);
    if (!split) return search(ftsMatchAny(kept));
    const rare = ftsMatchAny(split.rare);
    const rows = [...search(rare), ...search(`(${rare}) AND (${ftsMatchAny(split.common)})`)];
    // A memory in both lists holds a common term: its second score counts every term.
    const best = new Map<number, number>();
    for (const r of rows) best.set(r.rid, Math.max(best.get(r.rid) ?? 0, r.score));
    return bestFirst(
      [...best].map(([rid, score]) => ({ rid, score })),
      limit,
    );
  }

  /**
   * The rarer half of the terms, more while their postings fit the budget, and the rest; null
   * when every term's postings fit it.
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

  private search(
    expression: string,
    limit: number,
    thread: boolean,
    filter: RowFilter | null,
    range: RowidRange | null,
  ): RankedRow[] {
    const match = thread ? expression : `{content tags} : (${expression})`;
    return this.statement(filter?.sql ?? "", range !== null).all({
      ...filter?.params,
      ...range,
      match,
      limit,
    }) as RankedRow[];
  }

  private statement(filterSql: string, ranged: boolean): Database.Statement {
    const key = `${ranged ? "r" : "-"}${filterSql}`;
    let st = this.statements.get(key);
    if (!st) {
      const bm25 = `bm25(memories_fts, ${KEYWORD_COLUMN_WEIGHTS})`;
      const within = ranged ? "AND memories_fts.rowid >= @from AND memories_fts.rowid < @to" : "";
      st = this.db.prepare(
        filterSql
          ? `SELECT m.rid AS rid, -${bm25} AS score FROM memories_fts JOIN memories m ON m.rid = memories_fts.rowid
             WHERE memories_fts MATCH @match ${within} AND ${filterSql} ORDER BY ${bm25} LIMIT @limit`
          : `SELECT rowid AS rid, -${bm25} AS score FROM memories_fts
             WHERE memories_fts MATCH @match ${within} ORDER BY ${bm25} LIMIT @limit`,
      );
      if (this.statements.size > 64) this.statements.clear();
      this.statements.set(key, st);
    }
    return st;
  }
}
