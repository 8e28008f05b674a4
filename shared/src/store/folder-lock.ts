import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { TribalError } from "../errors.ts";

export interface FolderLock {
  /** The SQLite file whose exclusive lock is held. */
  readonly path: string;
  /** Drop the lock (closing the connection); idempotent. */
  release(): void;
}

export interface FolderLockOptions {
  /** File name stem inside the folder: `<name>.lock` (the lock) and `<name>.pid` (for messages). */
  name: string;
  /** Other file names, where a store already has them on disk. */
  files?: { lock: string; pid: string };
  /** Who holds it, for the error message: "relay", "tribalmemoryd". */
  holder: string;
  /** What the refused user can do, appended to the message. */
  hint?: string;
}

// Locks held by this process. better-sqlite3 closes a connection when its object is collected,
// which would silently drop the lock; this set keeps every held connection reachable.
const held = new Set<Database.Database>();

/**
 * One process per folder, with a lock the operating system releases when the process dies.
 *
 * The lock is an exclusive write transaction on a small SQLite file in rollback-journal,
 * `locking_mode=EXCLUSIVE` mode: SQLite takes an fcntl lock (LockFileEx on Windows) and keeps it
 * until the connection closes. The kernel drops fcntl locks when their process exits, SIGKILL
 * included, so a crash never leaves a stale lock, and a pid reused by another program never
 * keeps anyone out (the weakness of pid files). The file is never deleted: a waiter on the old
 * inode and a newcomer creating a new one would both believe they hold the lock.
 *
 * Throws DATA_DIR_LOCKED when another process (or another lock in this process) holds it.
 */
export function lockFolder(dir: string, options: FolderLockOptions): FolderLock {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, options.files?.lock ?? `${options.name}.lock`);
  const pidPath = join(dir, options.files?.pid ?? `${options.name}.pid`);
  // timeout 0: a held lock answers SQLITE_BUSY at once instead of after a 5 s busy wait.
  const db = new Database(path, { timeout: 0 });
  try {
    db.pragma("journal_mode = DELETE");
    db.pragma("locking_mode = EXCLUSIVE");
    db.exec("BEGIN EXCLUSIVE");
  } catch (err) {
    db.close();
    const code = (err as { code?: string }).code ?? "";
    if (code !== "SQLITE_BUSY" && code !== "SQLITE_LOCKED") throw err;
    const pid = readPid(pidPath);
    throw new TribalError(
      "DATA_DIR_LOCKED",
      `Another ${options.holder}${pid ? ` (pid ${pid})` : ""} is using ${dir}.${options.hint ? ` ${options.hint}` : ""}`,
      { dataDir: dir, ...(pid ? { pid } : {}) },
    );
  }
  held.add(db);
  // The pid only names the holder in the refusal: it decides nothing (pids are reused).
  try {
    writeFileSync(pidPath, `${process.pid}\n`, { mode: 0o600 });
  } catch {
    // a read-only folder still gets the lock; the message just lacks the pid
  }
  return {
    path,
    release() {
      if (!held.delete(db)) return;
      try {
        db.exec("ROLLBACK");
      } catch {
        // nothing open
      }
      db.close();
    },
  };
}

function readPid(path: string): number | null {
  try {
    const pid = Number.parseInt(readFileSync(path, "utf8"), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}
