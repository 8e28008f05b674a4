import { availableParallelism } from "node:os";
import type Database from "better-sqlite3";
import { InformativeTerms, type TermFrequencies } from "./informative-terms.ts";
import { bestFirst, KeywordRanker, type RankedRow, type RowFilter, type RowidRange } from "./keyword-rank.ts";
import type { KeywordTopQuery, KeywordTopRow } from "./read-worker.ts";
import { ReadWorkerClient } from "./read-worker-client.ts";

/**
 * From this many memories (the highest rowid) a keyword ranking is split by rowid over read
 * workers, one part each, run at once on as many cores. A part costs its share of the matches
 * (keyword-rank.ts `RowidRange`): at 1M memories half the rowids ranked in 14 ms where the whole
 * took 27, and the parts' merged top 50 was the whole's. Whole recalls on a 2-core VM,
 * interleaved: at 1M p50 39 → 32 ms, p95 105 → 71; at 100k 6.7–7.2 → 7.7–8.2 ms, slower, for
 * there the parts take the core the vector search runs on for less than they save. Between the
 * two the gain grows with the matches; 250k is where the two measurements' line crosses zero.
 */
export const SPLIT_RANKING_FROM = 250_000;

/**
 * In such a store, a ranking is split only when its terms' postings reach this many (the sum of
 * their document frequencies, which the first worker looks up anyway). Since keyword-rank.ts
 * ranks the memories holding two terms first, a part saves less than its share: each part's
 * BM25 counts every term's matches over the whole index again. At 1M, one thread, the slower of
 * two halves against the whole (p50): 3.0 / 3.2 ms below 20k postings, 14.8 / 17.8 at 80–100k,
 * 30 / 41 at 150–200k, 48 / 66 at 200–300k. Whole recalls at 1M (three runs each, p50 / p95 ms):
 * never split 21.5 / 71, 19.2 / 68, 19.8 / 71; always 21.8 / 57, 22.7 / 61, 26.1 / 69; from 150k
 * postings 20.4 / 57, 18.9 / 66, 20.8 / 62.
 */
export const SPLIT_RANKING_POSTINGS = 150_000;

/** A read-only query's rows, answered off the event loop (`ReadRouter.rowsAside`). */
export type ReadRows = <T>(sql: string, params?: Record<string, unknown>) => Promise<T[]>;

export interface ReadRouterOptions {
  /** Split keyword rankings from this highest rowid (default `SPLIT_RANKING_FROM`). */
  splitFrom?: number;
  /** …and from these postings (default `SPLIT_RANKING_POSTINGS`). */
  splitPostings?: number;
  /** Workers a split ranking runs on (default: the cores, at most 4; 1 never splits). */
  parts?: number;
}

/**
 * Where a read-only query runs: on a second, read-only connection in a worker thread when the
 * store is a file (keyword search and counts then leave the event loop free), else — or when
 * the worker fails — on the store's own connection. A large store's keyword ranking runs on
 * several such workers at once, each over a part of the rowids.
 */
export class ReadRouter {
  private readonly db: Database.Database;
  private readonly sql: (text: string) => Database.Statement;
  /** The file the workers open; null when they are disabled (":memory:", tests). */
  private readonly workerPath: string | null;
  private readonly splitFrom: number;
  private readonly splitPostings: number;
  private readonly parts: number;
  /** Created by `start` (or at first use); the first answers every read but a split ranking's parts. */
  private readers: ReadWorkerClient[] = [];
  private closed = false;
  private localTerms: InformativeTerms | null = null;
  private localRanker: KeywordRanker | null = null;
  /**
   * The term frequencies the worker sent with the last keyword ranking: recall asks for the same
   * terms' frequencies at once, and answering from here saves a round trip to the worker.
   */
  private sentWithRanking: { key: string; frequencies: Promise<TermFrequencies> } | null = null;

  constructor(
    db: Database.Database,
    sql: (text: string) => Database.Statement,
    workerPath: string | null,
    options: ReadRouterOptions = {},
  ) {
    this.db = db;
    this.sql = sql;
    this.workerPath = workerPath;
    this.splitFrom = options.splitFrom ?? SPLIT_RANKING_FROM;
    this.splitPostings = options.splitPostings ?? SPLIT_RANKING_POSTINGS;
    this.parts = Math.max(1, options.parts ?? Math.min(4, availableParallelism()));
  }

  /**
   * Starts the workers now, off the event loop: a worker's thread, modules and connection take
   * ~130 ms here, which the first keyword search after the store opens would otherwise wait for
   * (in-process, a second after the open: 130 → 2–3 ms). The split's other workers start only in
   * a store large enough to use them.
   */
  start(): void {
    if (!this.worker(0) || this.parts < 2 || this.maxRid() < this.splitFrom) return;
    for (let i = 1; i < this.parts; i++) this.worker(i);
  }

  /** Worker `i`, created at its first use; null when disabled, closed or failed. */
  private worker(i = 0): ReadWorkerClient | null {
    if (!this.workerPath || this.closed) return null;
    this.readers[i] ??= new ReadWorkerClient(this.workerPath);
    const reader = this.readers[i];
    return reader.usable ? reader : null;
  }

  /** Rows of a read-only query. */
  async rows<T>(sql: string, params: Record<string, unknown>): Promise<T[]> {
    const worker = this.worker();
    if (worker) {
      try {
        return await worker.all<T>(sql, params);
      } catch {
        // The reader failed (e.g. a schema it has not seen yet): answer from this connection.
      }
    }
    return this.sql(sql).all(params) as T[];
  }

  /**
   * Rows of a long read-only query (the store's figures): on the last worker of a store large
   * enough to have started several, so the first keeps answering keyword searches meanwhile (at
   * 1M, /v1/stats took 3.5 s of a worker); else as `rows`.
   */
  async rowsAside<T>(sql: string, params: Record<string, unknown>): Promise<T[]> {
    const last = this.readers.length > 1 ? this.worker(this.readers.length - 1) : null;
    if (last) {
      try {
        return await last.all<T>(sql, params);
      } catch {
        // that reader failed: as any read
      }
    }
    return this.rows(sql, params);
  }

  /** BM25's best rows for `terms` over the whole keyword index (keyword-rank.ts). */
  async keywordTop(
    terms: string[],
    limit: number,
    thread: boolean,
    filter: RowFilter | null,
  ): Promise<RankedRow[]> {
    const query: KeywordTopQuery = { terms, limit, thread, filter };
    const first = this.worker(0);
    if (first) {
      // When a part's worker has failed, the first one ranks the whole, off the event loop still.
      const ranges = this.splitRanges();
      const parts = ranges?.every((_, i) => this.worker(i)) ? ranges : null;
      // The first worker looks the terms' frequencies up and ranks; in a store large enough to
      // split, only a ranking whose postings reach `splitPostings`, that it then leaves unrun.
      const reply = first
        .send<KeywordTopRow>({ keywordTop: parts ? { ...query, splitAt: this.splitPostings } : query })
        .then(([row]) => row);
      const frequencies = reply.then(({ docs, df }) => ({ docs, df }));
      frequencies.catch(() => undefined); // a failed reply is handled below, or asked again there
      this.sentWithRanking = { key: termsKey(terms), frequencies };
      try {
        const row = await reply;
        if (row.ranked || !parts) return row.ranked ?? [];
        // Each part with the frequencies the first looked up: BM25's statistics are the whole's.
        const known = { docs: row.docs, df: row.df };
        const ranked = await Promise.all(
          parts.map((range, i) =>
            (this.worker(i) ?? first)
              .send<KeywordTopRow>({ keywordTop: { ...query, range, known } })
              .then(([part]) => part.ranked ?? []),
          ),
        );
        // Parts over disjoint rowids: no memory is in two.
        return bestFirst(ranked.flat(), limit);
      } catch {
        // answer from this connection
      }
    }
    this.localTerms ??= new InformativeTerms(this.db);
    this.localRanker ??= new KeywordRanker(this.db, this.localTerms);
    return this.localRanker.top(terms, limit, thread, filter);
  }

  /** Live memories and how many contain each term (for IDF weights). */
  async termFrequencies(terms: string[]): Promise<TermFrequencies> {
    const sent = this.sentWithRanking;
    if (sent?.key === termsKey(terms)) {
      this.sentWithRanking = null;
      try {
        return await sent.frequencies;
      } catch {
        // asked again below
      }
    }
    const worker = this.worker();
    if (worker) {
      try {
        const [row] = await worker.send<TermFrequencies>({ frequencyTerms: terms });
        if (row) return row;
      } catch {
        // answer from this connection
      }
    }
    this.localTerms ??= new InformativeTerms(this.db);
    return this.localTerms.frequencies(terms);
  }

  /**
   * The rowid ranges a ranking is split into, or null: a small store, or one core. The first
   * and last are open-ended: rows written since `max(rid)` was read belong to one.
   */
  private splitRanges(): RowidRange[] | null {
    if (this.parts < 2) return null;
    const top = this.maxRid();
    if (top < this.splitFrom) return null;
    const bound = (i: number) => Math.floor(((top + 1) * i) / this.parts);
    return Array.from({ length: this.parts }, (_, i) => ({
      from: i === 0 ? Number.MIN_SAFE_INTEGER : bound(i),
      to: i === this.parts - 1 ? Number.MAX_SAFE_INTEGER : bound(i + 1),
    }));
  }

  private maxRid(): number {
    return (this.sql("SELECT coalesce(max(rid), 0) AS n FROM memories").get() as { n: number }).n;
  }

  async close(): Promise<void> {
    this.closed = true;
    const readers = this.readers;
    this.readers = [];
    await Promise.all(readers.map((r) => r.close()));
  }
}

const termsKey = (terms: string[]) => terms.join("\u0000");
