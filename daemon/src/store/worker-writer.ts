import { parentPort } from "node:worker_threads";
import Database from "better-sqlite3";

/**
 * A worker thread's one write to the store's file (term-stats-worker.ts, fts-optimize-worker.ts):
 * its own connection, waiting up to 10 s for the store's writes, and deleting with secure_delete
 * as every write of the store does (sqlite-store.ts), so what it frees is zeroed. `work`'s result,
 * or its error's message, is posted to the store, and the connection closed either way.
 */
export function writeInWorker<T extends object>(path: string, work: (db: Database.Database) => T): void {
  let reply: T | { error: string };
  let db: Database.Database | null = null;
  try {
    db = new Database(path, { fileMustExist: true });
    db.pragma("busy_timeout = 10000");
    db.pragma("secure_delete = ON");
    reply = work(db);
  } catch (err) {
    reply = { error: (err as Error).message };
  } finally {
    db?.close();
  }
  parentPort?.postMessage(reply);
}
