/**
 * A purge's rewrite of the keyword index (sqlite-file-scrub.ts) on its own connection and thread:
 * FTS5's `optimize` rewrites every segment, 3.3 s at 1M memories, which recall should not wait
 * for. WAL lets the store's connections read meanwhile.
 */
import { workerData } from "node:worker_threads";
import { writeInWorker } from "./worker-writer.ts";

export interface FtsOptimizeJob {
  path: string;
}
export type FtsOptimizeReply = { ok: true } | { error: string };

const { path } = workerData as FtsOptimizeJob;
writeInWorker<FtsOptimizeReply>(path, (db) => {
  db.exec("INSERT INTO memories_fts (memories_fts) VALUES ('optimize')");
  return { ok: true };
});
