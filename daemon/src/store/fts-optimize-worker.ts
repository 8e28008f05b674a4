/**
 * A purge's rewrite of the keyword index (sqlite-file-scrub.ts) on its own connection and thread:
 * FTS5's `optimize` rewrites every segment, 3.3 s at 1M memories, which recall should not wait
 * for. WAL lets the store's connections read meanwhile.
 */
import { parentPort, workerData } from "node:worker_threads";
import Database from "better-sqlite3";

export interface FtsOptimizeJob {
  path: string;
}
export type FtsOptimizeReply = { ok: true } | { error: string };

const { path } = workerData as FtsOptimizeJob;
let reply: FtsOptimizeReply;
let db: Database.Database | null = null;
try {
  db = new Database(path, { fileMustExist: true });
  db.pragma("busy_timeout = 10000");
  // As every write of the store: the old segments' freed pages are zeroed (sqlite-store.ts).
  db.pragma("secure_delete = ON");
  db.exec("INSERT INTO memories_fts (memories_fts) VALUES ('optimize')");
  reply = { ok: true };
} catch (err) {
  reply = { error: (err as Error).message };
} finally {
  db?.close();
}
parentPort?.postMessage(reply);
