import type Database from "better-sqlite3";

/** Where the transcript watcher stopped reading one file. */
export interface WatchOffset {
  path: string;
  /** `dev:ino`: the same file under a new name keeps its offset. */
  file_id: string;
  offset: number;
  session_id: string;
}

/**
 * The transcript watcher's offsets per followed file (`session_watch_files`), in the same
 * database as the sessions, so a restart neither loses nor repeats a message.
 */
export class WatchOffsetsStore {
  private readonly stmts;

  constructor(db: Database.Database) {
    this.stmts = {
      get: db.prepare("SELECT path, file_id, offset, session_id FROM session_watch_files WHERE path = ?"),
      byFileId: db.prepare(
        "SELECT path, file_id, offset, session_id FROM session_watch_files WHERE file_id = ?",
      ),
      put: db.prepare(
        `INSERT INTO session_watch_files (path, file_id, offset, session_id, updated_ms) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT(path) DO UPDATE SET file_id = excluded.file_id, offset = excluded.offset, session_id = excluded.session_id, updated_ms = excluded.updated_ms`,
      ),
      del: db.prepare("DELETE FROM session_watch_files WHERE path = ?"),
    };
  }

  get(path: string): WatchOffset | undefined {
    return this.stmts.get.get(path) as WatchOffset | undefined;
  }

  /** Every path recorded for this file (a rename leaves the old name behind until it is seen gone). */
  byFileId(fileId: string): WatchOffset[] {
    return this.stmts.byFileId.all(fileId) as WatchOffset[];
  }

  put(entry: WatchOffset): void {
    this.stmts.put.run(entry.path, entry.file_id, entry.offset, entry.session_id, Date.now());
  }

  delete(path: string): void {
    this.stmts.del.run(path);
  }
}
