import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import { TribalError } from "@tribalmemory/shared/errors";

export interface DataDirLock {
  release(): void;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * One daemon per data folder: a second one would interleave writes and wedge documents.
 * The lock file holds the owner's pid; a lock left by a killed daemon is taken over.
 */
export function lockDataDir(dataDir: string): DataDirLock {
  const path = join(dataDir, "daemon.lock");
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, "wx", 0o600);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return {
        release() {
          try {
            if (readFileSync(path, "utf8").trim() === String(process.pid)) unlinkSync(path);
          } catch {
            // already gone
          }
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const owner = Number.parseInt(readFileSync(path, "utf8"), 10);
      if (Number.isInteger(owner) && owner !== process.pid && alive(owner)) {
        throw new TribalError(
          "DATA_DIR_LOCKED",
          `Another tribalmemoryd (pid ${owner}) is using ${dataDir}. Stop it with \`tribalmemory daemon stop\`, or pass another --data-dir.`,
          { pid: owner, dataDir },
        );
      }
      unlinkSync(path);
    }
  }
  throw new TribalError(
    "DATA_DIR_LOCKED",
    `Could not lock ${dataDir}; remove ${path} if no daemon is running.`,
  );
}
