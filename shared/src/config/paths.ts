import { join } from "node:path";

/** The version every binary reports (kept in one place so `--version` loads nothing heavy). */
export const TRIBAL_MEMORY_VERSION = "0.1.0";

/** The file `tribalmemory daemon status|stop` reads to find a running daemon. */
export function daemonInfoPath(dataDir: string): string {
  return join(dataDir, "daemon.json");
}
