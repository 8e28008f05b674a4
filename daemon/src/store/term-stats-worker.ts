/**
 * Builds a store's `term_stats` (term-stats-build.ts) on its own connection and thread: at 1M
 * memories the vocabulary pass and the per-token counts take seconds, which neither recall nor
 * the event loop should wait for. WAL lets it read while the store writes; its one write, the
 * new table, is a short transaction.
 */
import { parentPort, workerData } from "node:worker_threads";
import Database from "better-sqlite3";
import { loadFtsScorer } from "./fts-extension.ts";
import { buildTermStats, type TermStatsJob, type TermStatsReply } from "./term-stats-build.ts";

const { path, minDf, stop } = workerData as TermStatsJob;
const flag = new Int32Array(stop);
const stopped = () => Atomics.load(flag, 0) === 1;
let reply: TermStatsReply;
let db: Database.Database | null = null;
try {
  db = new Database(path, { fileMustExist: true });
  db.pragma("busy_timeout = 10000");
  // As every write of the store: the old table's freed cells are zeroed (sqlite-store.ts).
  db.pragma("secure_delete = ON");
  if (!loadFtsScorer(db)) throw new Error("the keyword scorer (tm_token) is not built");
  reply = { info: stopped() ? null : buildTermStats(db, { minDf, stop: stopped }) };
} catch (err) {
  reply = { error: (err as Error).message };
} finally {
  db?.close();
}
parentPort?.postMessage(reply);
