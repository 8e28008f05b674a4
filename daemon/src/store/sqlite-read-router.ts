import type Database from "better-sqlite3";
import { InformativeTerms, type TermFrequencies } from "./informative-terms.ts";
import { KeywordRanker, type RankedRow, type RowFilter } from "./keyword-rank.ts";
import type { KeywordTopRow } from "./read-worker.ts";
import { ReadWorkerClient } from "./read-worker-client.ts";

/**
 * Where a read-only query runs: on a second, read-only connection in a worker thread when the
 * store is a file (keyword search and counts then leave the event loop free), else — or when
 * the worker fails — on the store's own connection.
 */
export class ReadRouter {
  private readonly db: Database.Database;
  private readonly sql: (text: string) => Database.Statement;
  /** The file the worker opens; null when the worker is disabled (":memory:", tests). */
  private readonly workerPath: string | null;
  /** Created at the first read; null when disabled or closed. */
  private reader: ReadWorkerClient | null | undefined;
  private localTerms: InformativeTerms | null = null;
  private localRanker: KeywordRanker | null = null;
  /**
   * The term frequencies the worker sent with the last keyword ranking: recall asks for the same
   * terms' frequencies at once, and answering from here saves a round trip to the worker.
   */
  private sentWithRanking: { key: string; frequencies: Promise<TermFrequencies> } | null = null;

  constructor(db: Database.Database, sql: (text: string) => Database.Statement, workerPath: string | null) {
    this.db = db;
    this.sql = sql;
    this.workerPath = workerPath;
  }

  private worker(): ReadWorkerClient | null {
    if (this.reader === undefined)
      this.reader = this.workerPath ? new ReadWorkerClient(this.workerPath) : null;
    return this.reader?.usable ? this.reader : null;
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

  /** BM25's best rows for `terms` over the whole keyword index (keyword-rank.ts). */
  async keywordTop(
    terms: string[],
    limit: number,
    thread: boolean,
    filter: RowFilter | null,
  ): Promise<RankedRow[]> {
    const worker = this.worker();
    if (worker) {
      const reply = worker
        .send<KeywordTopRow>({ keywordTop: { terms, limit, thread, filter } })
        .then(([row]) => row);
      const frequencies = reply.then(({ docs, df }) => ({ docs, df }));
      frequencies.catch(() => undefined); // a failed reply is handled below, or asked again there
      this.sentWithRanking = { key: termsKey(terms), frequencies };
      try {
        return (await reply).ranked;
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

  async close(): Promise<void> {
    await this.reader?.close();
    this.reader = null;
  }
}

const termsKey = (terms: string[]) => terms.join("\u0000");
