import type Database from "better-sqlite3";
import { MemoryRowCount } from "./memory-row-count.ts";
import { countsHold, TermStatsReader } from "./term-stats.ts";

/**
 * Drops query terms found in half the memories or more: FTS5's BM25 gives them an idf of ~0,
 * so they only add matches to score (one such term made a query 5x slower at 100k memories).
 * Document frequencies are cached per term until the store grows by a tenth.
 *
 * Stores under 100 memories keep every term: there scoring them all costs nothing. From 100 up
 * it pays: in a LoCoMo conversation (369–689 turns) its two speakers' names are each in half
 * the turns and their neighbours, so a question naming one scored every row.
 */
/** Live memories and how many contain each of some terms (for IDF weights). */
export interface TermFrequencies {
  docs: number;
  df: number[];
}

/** Below this many memories every term is kept. */
const SMALL_STORE = 100;

export class InformativeTerms {
  private readonly cache = new Map<string, { df: number; docs: number }>();
  private readonly statements = new Map<number, Database.Statement>();
  private readonly db: Database.Database;
  /** Common tokens' counts kept in the store (term-stats.ts): read, not counted, when they hold. */
  private readonly kept: TermStatsReader;
  private readonly rows: MemoryRowCount;

  constructor(db: Database.Database) {
    this.db = db;
    this.kept = new TermStatsReader(db);
    this.rows = new MemoryRowCount(db);
  }

  select(terms: string[]): string[] {
    return this.weigh(terms).terms;
  }

  /**
   * `select`'s terms with how many memories hold each (null for one term, or under 100
   * memories); `known`: `frequencies(terms)` when the caller has them already. `docs`: the
   * memory count it used, when it needed one.
   */
  weigh(terms: string[], known?: TermFrequencies): { terms: string[]; dfs: number[] | null; docs?: number } {
    if (terms.length < 2) return { terms, dfs: null, docs: known?.docs };
    const docs = known?.docs ?? this.docCount();
    if (docs < SMALL_STORE) return { terms, dfs: null, docs };
    const dfs = known?.df ?? this.documentFrequencies(terms, docs);
    const kept = terms.flatMap((_, i) => (dfs[i] * 2 < docs ? [i] : []));
    if (!kept.length) kept.push(dfs.indexOf(Math.min(...dfs)));
    return { terms: kept.map((i) => terms[i]), dfs: kept.map((i) => dfs[i]), docs };
  }

  /** Memory rows in the store, deleted included: the N of IDF on both stores (memory-row-count.ts). */
  docCount(): number {
    return this.rows.get();
  }

  /** The memory count and each term's document frequency. */
  frequencies(terms: string[]): TermFrequencies {
    const docs = this.docCount();
    return { docs, df: this.documentFrequencies(terms, docs) };
  }

  /**
   * How many memories contain each term (cached until the store grows by a tenth): in their own
   * text and tags, or with `thread` in their neighbours' text too (what BM25 counts for a search
   * over every column). The two are counted apart: at 1M, 120 terms took 212 and 206 ms, and one
   * pass for both (a function per match, summed) 516 ms. A large store keeps its common terms'
   * counts (term-stats.ts): those are read, and only the rest counted.
   */
  documentFrequencies(terms: string[], docs: number = this.docCount(), thread = false): number[] {
    const dfs = terms.map((term) => {
      const cached = this.cache.get(cacheKey(term, thread));
      return cached && countsHold(cached.docs, docs) ? cached.df : -1;
    });
    let unknown = terms.flatMap((_, i) => (dfs[i] < 0 ? [i] : []));
    if (unknown.length) {
      const kept = this.kept.counts(
        unknown.map((i) => terms[i]),
        docs,
      );
      unknown.forEach((i, j) => {
        const counts = kept[j];
        if (counts) dfs[i] = thread ? counts.every : counts.own;
      });
      unknown = unknown.filter((i) => dfs[i] < 0);
    }
    if (unknown.length) {
      const columns = thread ? "" : "{content tags} : ";
      const rows = this.countStatement(unknown.length).all(
        Object.fromEntries(unknown.map((i, j) => [`t${j}`, `${columns}${ftsTerm(terms[i])}`])),
      ) as { j: number; n: number }[];
      if (this.cache.size > 10_000) this.cache.clear();
      for (const row of rows) {
        const i = unknown[row.j];
        dfs[i] = row.n;
        this.cache.set(cacheKey(terms[i], thread), { df: row.n, docs });
      }
    }
    return dfs;
  }

  private countStatement(n: number): Database.Statement {
    let st = this.statements.get(n);
    if (!st) {
      st = this.db.prepare(
        Array.from(
          { length: n },
          (_, j) => `SELECT ${j} AS j, count(*) AS n FROM memories_fts WHERE memories_fts MATCH @t${j}`,
        ).join(" UNION ALL "),
      );
      this.statements.set(n, st);
    }
    return st;
  }
}

/** Where a term's count is cached: over its memories' own columns, or every column. */
const cacheKey = (term: string, thread: boolean) => (thread ? `\u0000${term}` : term);

/** A term as an FTS5 string: quoted, so `AND`, `NEAR` or `-` in it stay words. */
export function ftsTerm(term: string): string {
  return `"${term.replace(/"/g, '""')}"`;
}

/** The FTS5 expression that ORs the terms (never one phrase). */
export function ftsMatchAny(terms: string[]): string {
  return terms.map(ftsTerm).join(" OR ");
}
