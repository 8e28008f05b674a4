import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { TribalError } from "@tribalmemory/shared/errors";
import Database from "better-sqlite3";

export interface DataDirLock {
  release(): void;
}

/** The lock itself: a SQLite file whose exclusive lock the owner holds while it runs. */
export const LOCK_FILE = "daemon-lock.sqlite";
/** The owner's pid, for the error message only: it decides nothing (pids are reused). */
export const PID_FILE = "daemon.pid";

/**
 * One daemon per data folder: a second one would interleave writes and wedge documents.
 *
 * The lock is an operating-system file lock (fcntl on Unix, LockFileEx on Windows, taken by
 * SQLite): an exclusive write transaction on a small SQLite file, held for the life of the
 * process. The kernel drops it when the process dies, SIGKILL included, so a crash never
 * leaves a stale lock. The pid file it replaced did: after a crash, a new process that happened
 * to get the dead daemon's pid kept every daemon out of the folder.
 */
export function lockDataDir(dataDir: string): DataDirLock {
  const path = join(dataDir, LOCK_FILE);
  const pidPath = join(dataDir, PID_FILE);
  // timeout 0: a held lock answers SQLITE_BUSY at once instead of after better-sqlite3's 5 s.
  const db = new Database(path, { timeout: 0 });
  try {
    // Rollback journal, exclusive locking: the lock is taken at BEGIN EXCLUSIVE and kept
    // until the connection closes. The file is never deleted: a process waiting on the old
    // inode and a newcomer creating a new one would both believe they hold the lock.
    db.pragma("journal_mode = DELETE");
    db.pragma("locking_mode = EXCLUSIVE");
    db.exec("BEGIN EXCLUSIVE");
  } catch (err) {
    db.close();
    if ((err as { code?: string }).code !== "SQLITE_BUSY") throw err;
    const owner = readOwner(pidPath);
    throw new TribalError(
      "DATA_DIR_LOCKED",
      `Another tribalmemoryd (pid ${owner ?? "unknown"}) is using ${dataDir}. Stop it with \`tribalmemory daemon stop\`, or pass another --data-dir.`,
      { pid: owner, dataDir },
    );
  }
  writeFileSync(pidPath, `${process.pid}\n`, { mode: 0o600 });
  // The pid file of daemons before this lock; it means nothing now.
  rmSync(join(dataDir, "daemon.lock"), { force: true });
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      if (readOwner(pidPath) === process.pid) rmSync(pidPath, { force: true });
      try {
        db.exec("ROLLBACK");
      } finally {
        db.close();
      }
    },
  };
}

function readOwner(pidPath: string): number | null {
  try {
    const pid = Number.parseInt(readFileSync(pidPath, "utf8"), 10);
    return Number.isInteger(pid) ? pid : null;
  } catch {
    return null;
  }
}
