import type Database from "better-sqlite3";

/** Marks a purge whose file side has not finished: a store opened with it set scrubs at once. */
export const SCRUB_PENDING_META = "scrub_pending";
/**
 * Pages of keyword index rewritten per step. Measured on a copy of the 1M scale folder: 293
 * steps of p50 9.8 ms, 3.85 s in all (64 pages: 990 steps of 2.8 ms, 4.33 s); the longest, ~75 ms
 * at either size, writes one common term's whole doclist. In one statement the rewrite held the
 * event loop 3.47 s.
 */
const STEP_PAGES = 256;

interface Waiter {
  purge: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

export interface ScrubOptions {
  /** Whether every write of the store ran with secure_delete (no old text in free pages). */
  wasAlwaysSecure: () => boolean;
  markAlwaysSecure: () => void;
  /** Pages rewritten per step (`STEP_PAGES`; tests make it small). */
  stepPages?: number;
}

/**
 * The file side of a purge: rewrite the FTS index (dropping deleted rows' terms, which FTS5
 * keeps in older segments until they merge), and move the WAL into the database and truncate
 * it, so the pages holding the purged text are gone from the WAL too.
 *
 * The rewrite is FTS5's incremental optimize (`merge` with a negative page count, then positive
 * ones until no work is left) in steps of `STEP_PAGES`, each its own short statement, with the
 * event loop free between them: other requests are answered while a large index is rewritten.
 * A purge's promise resolves once a rewrite that began after it has finished; purges arriving
 * meanwhile share the next one. A purge inside a transaction (sync applying one) is scrubbed
 * after it commits. A clean close finishes a rewrite that is due; after a crash, the purge's
 * mark in `meta` makes the next open do it.
 */
export class FileScrubber {
  private readonly db: Database.Database;
  private readonly options: ScrubOptions;
  private readonly stepPages: number;
  /** Purges asked for, and purges whose text no file holds any longer. */
  private asked = 0;
  private done = 0;
  private running = false;
  private waiters: Waiter[] = [];

  constructor(db: Database.Database, options: ScrubOptions) {
    this.db = db;
    this.options = options;
    this.stepPages = options.stepPages ?? STEP_PAGES;
  }

  /**
   * A purge was written (or will be, once the caller's transaction commits): resolves once no
   * file holds its text, rejects when the rewrite failed. Callers that do not wait may drop it.
   */
  afterPurge(): Promise<void> {
    const purge = ++this.asked;
    const scrubbed = new Promise<void>((resolve, reject) => this.waiters.push({ purge, resolve, reject }));
    scrubbed.catch(() => undefined); // a caller that does not wait is not an unhandled rejection
    if (!this.running) void this.run();
    return scrubbed;
  }

  /** Finishes a rewrite that is due, now, without yielding (a clean close). */
  finish(): void {
    if (this.done === this.asked || !this.db.open || this.db.inTransaction) return;
    const purge = this.asked;
    try {
      this.db.exec("INSERT INTO memories_fts (memories_fts) VALUES ('optimize')");
      this.afterRewrite(purge);
    } catch (err) {
      this.settle(purge, err as Error);
    }
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      while (this.done < this.asked) {
        const purge = this.asked;
        try {
          await this.rewrite();
          if (this.done >= purge) continue; // a close finished it meanwhile
          this.afterRewrite(purge);
        } catch (err) {
          this.settle(purge, err as Error);
        }
      }
    } finally {
      this.running = false;
    }
  }

  /** The incremental optimize, one step per turn of the event loop. */
  private async rewrite(): Promise<void> {
    const changes = this.db.prepare("SELECT total_changes() AS n");
    const merge = this.db.prepare("INSERT INTO memories_fts (memories_fts, rank) VALUES ('merge', ?)");
    let started = false;
    for (;;) {
      await new Promise((resolve) => setImmediate(resolve));
      if (!this.db.open) throw new Error("the store closed before the purge's rewrite finished");
      if (this.db.inTransaction) continue; // the purge's own, or another write's: after it
      const before = (changes.get() as { n: number }).n;
      merge.run(started ? this.stepPages : -this.stepPages);
      started = true;
      // FTS5's contract: fewer than two changes means the command found no work.
      if ((changes.get() as { n: number }).n - before < 2) return;
    }
  }

  private afterRewrite(purge: number): void {
    // A store written before secure_delete may hold old text in free space: rewrite it once.
    if (!this.options.wasAlwaysSecure()) {
      this.db.exec("VACUUM");
      this.options.markAlwaysSecure();
    }
    if (purge === this.asked) {
      this.db.prepare("DELETE FROM meta WHERE key = ?").run(SCRUB_PENDING_META);
    }
    this.truncateWal();
    this.settle(purge, null);
  }

  private settle(purge: number, err: Error | null): void {
    this.done = Math.max(this.done, purge);
    const now = this.waiters.filter((w) => w.purge <= purge);
    this.waiters = this.waiters.filter((w) => w.purge > purge);
    for (const w of now) err ? w.reject(err) : w.resolve();
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
