/**
 * A second, read-only SQLite connection on its own thread. Recall sends it the keyword query
 * (FTS5 BM25 costs ~8 ms at 100k memories) while the main thread scans vectors, so the two
 * run on both cores at once. WAL lets it read committed data while the main connection writes.
 */
import { parentPort, workerData } from "node:worker_threads";
import Database from "better-sqlite3";
import { loadFtsScorer } from "./fts-extension.ts";
import { InformativeTerms, type TermFrequencies } from "./informative-terms.ts";
import { KeywordRanker, type RankedRow, type RowFilter, type RowidRange } from "./keyword-rank.ts";

/**
 * A query's rows; one row `{ docs, df }` for these terms; or one row `KeywordTopRow`: BM25's best
 * rows (`KeywordRanker.top`) with the same `{ docs, df }` of the terms (coverage's weights, so
 * recall does not ask for them in a second round trip).
 */
export type ReadQuery =
  | { sql: string; params: Record<string, unknown> }
  | { frequencyTerms: string[] }
  | { keywordTop: KeywordTopQuery };

/**
 * `KeywordRanker.top`'s arguments; `range` for one part of a split ranking, with the terms'
 * frequencies (`known`) its first request answered. With `splitAt`, a ranking whose postings
 * reach it is not run: the reply carries the frequencies alone (`ranked: null`), to be split.
 */
export interface KeywordTopQuery {
  terms: string[];
  limit: number;
  thread: boolean;
  filter: RowFilter | null;
  range?: RowidRange;
  known?: TermFrequencies;
  splitAt?: number;
}

export type ReadRequest = ReadQuery & { id: number };

export interface KeywordTopRow extends TermFrequencies {
  /** Null: the ranking reached `splitAt` and was not run. */
  ranked: RankedRow[] | null;
}

export type ReadReply =
  | { id: number; rows: unknown[] }
  | { id: number; error: string }
  /** Sent once, when the connection is open and warm: the worker may now be terminated safely. */
  | { ready: true };

const { path } = workerData as { path: string };
const db = new Database(path, { readonly: true, fileMustExist: true });
db.pragma("busy_timeout = 5000");
loadFtsScorer(db);
const statements = new Map<string, Database.Statement>();
const informative = new InformativeTerms(db);
const ranker = new KeywordRanker(db, informative);
// Recall's usual statements, prepared (and their code run once) before its first ranking asks.
try {
  ranker.top(["tribalmemorywarmup"], 1, true, null, informative.frequencies(["tribalmemorywarmup"]));
} catch {
  // a store whose schema is not the expected one: the first real request reports it
}

parentPort?.postMessage({ ready: true } satisfies ReadReply);

parentPort?.on("message", (req: ReadRequest) => {
  try {
    if ("frequencyTerms" in req) {
      parentPort?.postMessage({
        id: req.id,
        rows: [informative.frequencies(req.frequencyTerms)],
      } satisfies ReadReply);
      return;
    }
    if ("keywordTop" in req) {
      const { terms, limit, thread, filter, range, known, splitAt } = req.keywordTop;
      // Looked up once: the ranking weighs its terms with them, and recall weighs coverage.
      const frequencies = known ?? informative.frequencies(terms);
      const toSplit = splitAt !== undefined && ranker.postings(terms, frequencies) >= splitAt;
      const row: KeywordTopRow = {
        ranked: toSplit ? null : ranker.top(terms, limit, thread, filter, frequencies, range),
        ...frequencies,
      };
      parentPort?.postMessage({ id: req.id, rows: [row] } satisfies ReadReply);
      return;
    }
    let st = statements.get(req.sql);
    if (!st) {
      st = db.prepare(req.sql);
      statements.set(req.sql, st);
    }
    parentPort?.postMessage({ id: req.id, rows: st.all(req.params) } satisfies ReadReply);
  } catch (err) {
    parentPort?.postMessage({ id: req.id, error: (err as Error).message } satisfies ReadReply);
  }
});
