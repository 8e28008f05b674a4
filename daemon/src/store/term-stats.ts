import type Database from "better-sqlite3";
import { hasFtsScorer } from "./fts-extension.ts";
import { FTS_TOKENIZER } from "./schema.ts";

/**
 * Common tokens' document counts, kept in the store's `term_stats` table so that recall does not
 * count them. A recall weighs its words by how many memories hold each (informative-terms.ts),
 * and its ranking's BM25 takes the same counts (`tm_bm25`). Each connection caches the counts it
 * made, but the first recall to name a common word walks all of that word's postings, twice
 * (over the memories' own columns, and over every column): at 1M memories that was 8.9 ms of a
 * 12.4 ms p50 (`pnpm bench peers`, each query asked once).
 *
 * So a store of `TERM_STATS_FROM` memories or more keeps, for each token held by at least
 * `TERM_STATS_MIN_DF` of them, both counts. term-stats-build.ts makes them off the main thread,
 * from FTS5's vocabulary (one pass over the index) and a count per token for the own columns,
 * and makes them again once the store has grown or shrunk by a tenth; until then a recall counts
 * as before. The counts are read like the connections' own cache: they hold while the store is
 * within a tenth of the size they were made at.
 */
export const TERM_STATS_FROM = 50_000;

/**
 * A token in fewer memories is counted by the recall that names it: a fraction of a millisecond.
 * So the table holds only words that thousands of memories share: a purged memory leaves none of
 * its own there (the counts drift by one). When purges remove a word's every memory, the next
 * build drops it, and its connection zeroes what it deletes too (secure_delete, as the store's).
 */
export const TERM_STATS_MIN_DF = 2_000;

export const TERM_STATS_META = "term_stats";

/** What the last build made, kept in `meta` as JSON. */
export interface TermStatsInfo {
  /** Memory rows (deleted included) and the highest rowid when it counted. */
  docs: number;
  top: number;
  /** Tokens kept, and the document count they were kept from. */
  tokens: number;
  minDf: number;
  builtAt: string;
  ms: number;
}

/** `tm_token` (daemon/native/tm-fts5.c) over `expr` with the keyword index's tokenizer. */
export const tokenSql = (expr: string): string =>
  `tm_token(${expr}, ${FTS_TOKENIZER.map((w) => `'${w}'`).join(", ")})`;

/** Whether counts made at `made` memories hold at `docs`: within a tenth, as informative-terms.ts caches. */
export const countsHold = (made: number, docs: number): boolean => Math.abs(made - docs) < docs / 10;

export function readTermStatsInfo(db: Database.Database): TermStatsInfo | null {
  const row = db.prepare("SELECT value FROM meta WHERE key = ?").get(TERM_STATS_META) as
    | { value: string }
    | undefined;
  if (!row) return null;
  try {
    const info = JSON.parse(row.value) as TermStatsInfo;
    return Number.isFinite(info.docs) && Number.isFinite(info.top) ? info : null;
  } catch {
    return null;
  }
}

export interface TermCounts {
  own: number;
  every: number;
}

/**
 * Looks terms up in `term_stats` on one connection. Disabled (every answer undefined) where the
 * connection has no `tm_token` (no scorer built, or TRIBAL_MEMORY_FTS_SCORER=bm25) or the store
 * has no such table.
 */
export class TermStatsReader {
  private readonly lookup: Database.Statement | null = null;
  private readonly db: Database.Database;
  /** The meta row's text and what it said, read again on each lookup (a primary-key read). */
  private info: { text: string; made: number } | null = null;

  constructor(db: Database.Database) {
    this.db = db;
    try {
      if (hasFtsScorer(db))
        this.lookup = db.prepare(
          `SELECT own, every, (SELECT value FROM meta WHERE key = '${TERM_STATS_META}') AS meta
           FROM (SELECT 1) LEFT JOIN term_stats ON token = ${tokenSql("?")}`,
        );
    } catch {
      // no term_stats table (a connection to another schema): recall counts
    }
  }

  /**
   * Each term's counts, or undefined for a term not kept (in fewer memories than the build's
   * minimum, several tokens, or no tokens) or when the kept counts do not hold at `docs`.
   */
  counts(terms: string[], docs: number): (TermCounts | undefined)[] {
    const lookup = this.lookup;
    if (!lookup || !this.db.open) return terms.map(() => undefined);
    return terms.map((term) => {
      const row = lookup.get(term) as { own: number | null; every: number | null; meta: string | null };
      if (row.own === null || row.every === null || !this.holds(row.meta, docs)) return undefined;
      return { own: row.own, every: row.every };
    });
  }

  private holds(meta: string | null, docs: number): boolean {
    if (meta === null) return false;
    if (this.info?.text !== meta) {
      let made = Number.NaN;
      try {
        made = Number((JSON.parse(meta) as TermStatsInfo).docs);
      } catch {
        // unreadable: never holds
      }
      this.info = { text: meta, made };
    }
    return Number.isFinite(this.info.made) && countsHold(this.info.made, docs);
  }
}
