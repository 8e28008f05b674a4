/**
 * Builds a store's `term_stats` (term-stats-build.ts) on its own connection and thread: at 1M
 * memories the vocabulary pass and the per-token counts take seconds, which neither recall nor
 * the event loop should wait for. WAL lets it read while the store writes; its one write, the
 * new table, is a short transaction.
 */
import { workerData } from "node:worker_threads";
import { loadFtsScorer } from "./fts-extension.ts";
import { buildTermStats, type TermStatsJob, type TermStatsReply } from "./term-stats-build.ts";
import { writeInWorker } from "./worker-writer.ts";

const { path, minDf, stop } = workerData as TermStatsJob;
const flag = new Int32Array(stop);
const stopped = () => Atomics.load(flag, 0) === 1;
writeInWorker<TermStatsReply>(path, (db) => {
  if (!loadFtsScorer(db)) throw new Error("the keyword scorer (tm_token) is not built");
  return { info: stopped() ? null : buildTermStats(db, { minDf, stop: stopped }) };
});
