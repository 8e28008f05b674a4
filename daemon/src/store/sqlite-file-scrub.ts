import { Worker } from "node:worker_threads";
import { runtimeModuleUrl } from "@tribalmemory/shared/config/install-layout";
import type Database from "better-sqlite3";
import type { FtsOptimizeJob, FtsOptimizeReply } from "./fts-optimize-worker.ts";

/**
 * The file side of a purge: rewrite the FTS index (dropping deleted rows' terms), and move the
 * WAL into the database and truncate it, so the pages holding the purged text are gone from
 * the WAL too. Inside a transaction (sync applying a purge) it runs right after.
 *
 * The rewrite (FTS5 `optimize`) runs on a worker's connection when the store is a file: at 1M
 * memories it took 3.3 s, during which the event loop answered nothing. Reads go on meanwhile;
 * a write waits for the rewrite's lock as it would for any writer. Purges that arrive while one
 * rewrite runs share the next.
 */
export class FileScrubber {
  private readonly db: Database.Database;
  /** The database file, or null (an in-memory store: the rewrite runs on its connection). */
  private readonly path: string | null;
  /** Whether every write of the store ran with secure_delete (no old text in free pages). */
  private readonly wasAlwaysSecure: () => boolean;
  private readonly markAlwaysSecure: () => void;
  /** The scrub running now, and the one that will run after it (shared by the purges meanwhile). */
  private running: Promise<void> = Promise.resolve();
  private next: Promise<void> | null = null;

  constructor(
    db: Database.Database,
    path: string | null,
    wasAlwaysSecure: () => boolean,
    markAlwaysSecure: () => void,
  ) {
    this.db = db;
    this.path = path;
    this.wasAlwaysSecure = wasAlwaysSecure;
    this.markAlwaysSecure = markAlwaysSecure;
  }

  /** Resolves once no file holds what the purges so far removed. */
  afterPurge(): Promise<void> {
    if (this.next) return this.next;
    const next = this.running
      .catch(() => undefined)
      .then(async () => {
        // A transaction still open (sync applying purges) commits first.
        while (this.db.open && this.db.inTransaction) await new Promise((r) => setImmediate(r));
        this.next = null;
        await this.scrub();
      });
    this.next = next;
    this.running = next;
    return next;
  }

  /** Waits for a running scrub (its worker is never terminated mid-write). */
  async close(): Promise<void> {
    await this.running.catch(() => undefined);
  }

  private async scrub(): Promise<void> {
    if (!this.db.open) return;
    await this.rewriteIndex();
    if (!this.db.open) return;
    // A store written before secure_delete may hold old text in free space: rewrite it once.
    if (!this.wasAlwaysSecure()) {
      this.db.exec("VACUUM");
      this.markAlwaysSecure();
    }
    this.truncateWal();
  }

  private async rewriteIndex(): Promise<void> {
    const path = this.path;
    if (path) {
      const reply = await new Promise<FtsOptimizeReply>((resolve) => {
        const worker = new Worker(runtimeModuleUrl(new URL("./fts-optimize-worker.ts", import.meta.url)), {
          workerData: { path } satisfies FtsOptimizeJob,
        });
        let answer: FtsOptimizeReply = { error: "the worker ended without a reply" };
        worker.on("message", (r: FtsOptimizeReply) => {
          answer = r;
        });
        worker.on("error", (err) => {
          answer = { error: err.message };
        });
        worker.on("exit", () => resolve(answer));
      });
      if ("ok" in reply) return;
      // The worker could not (no thread, or its connection failed): rewrite on this connection.
    }
    if (this.db.open) this.db.exec("INSERT INTO memories_fts (memories_fts) VALUES ('optimize')");
  }

  private truncateWal(attempt = 0): void {
    const [r] = this.db.pragma("wal_checkpoint(TRUNCATE)") as { busy: number }[];
    // A reader (the keyword-search worker) held an old snapshot: try again shortly.
    if (r?.busy && attempt < 50) {
      setTimeout(() => {
        if (this.db.open && !this.db.inTransaction) this.truncateWal(attempt + 1);
      }, 100).unref();
    }
  }
}
