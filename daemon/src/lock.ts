import { rmSync } from "node:fs";
import { join } from "node:path";
import { type FolderLock, lockFolder } from "@tribalmemory/shared/store/folder-lock";

/** The lock itself: a SQLite file whose exclusive lock the owner holds while it runs. */
export const LOCK_FILE = "daemon-lock.sqlite";
/** The owner's pid, for the error message only: it decides nothing (pids are reused). */
export const PID_FILE = "daemon.pid";

/**
 * One daemon per data folder: a second one would interleave writes and wedge documents.
 * The OS-released lock of shared/store/folder-lock (the relay's PGlite folder uses it too):
 * the pid file it replaced stayed behind after a crash, and a new process that got the dead
 * daemon's pid kept every daemon out of the folder.
 */
export function lockDataDir(dataDir: string): FolderLock {
  const lock = lockFolder(dataDir, {
    name: "daemon",
    files: { lock: LOCK_FILE, pid: PID_FILE },
    holder: "tribalmemoryd",
    hint: "Stop it with `tribalmemory daemon stop`, or pass another --data-dir.",
  });
  // The pid file of daemons before this lock; it means nothing now.
  rmSync(join(dataDir, "daemon.lock"), { force: true });
  return lock;
}
