import type Database from "better-sqlite3";

/**
 * The file side of a purge: merge the FTS index (dropping deleted rows' terms), and move the
 * WAL into the database and truncate it, so the pages holding the purged text are gone from
 * the WAL too. Inside a transaction (sync applying a purge) it runs right after.
 */
export class FileScrubber {
  private readonly db: Database.Database;
  /** Whether every write of the store ran with secure_delete (no old text in free pages). */
  private readonly wasAlwaysSecure: () => boolean;
  private readonly markAlwaysSecure: () => void;
  private queued = false;

  constructor(db: Database.Database, wasAlwaysSecure: () => boolean, markAlwaysSecure: () => void) {
    this.db = db;
    this.wasAlwaysSecure = wasAlwaysSecure;
    this.markAlwaysSecure = markAlwaysSecure;
  }

  afterPurge(): void {
    if (this.db.inTransaction) {
      if (!this.queued) {
        this.queued = true;
        setImmediate(() => {
          this.queued = false;
          if (this.db.open) this.afterPurge();
        });
      }
      return;
    }
    this.db.exec("INSERT INTO memories_fts (memories_fts) VALUES ('optimize')");
    // A store written before secure_delete may hold old text in free space: rewrite it once.
    if (!this.wasAlwaysSecure()) {
      this.db.exec("VACUUM");
      this.markAlwaysSecure();
    }
    this.truncateWal();
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
