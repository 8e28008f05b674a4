import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";

/**
 * Where the local daemon is and its token, as the daemon lays them out. These few lines repeat
 * shared/src/config (tribalHome, DEFAULT_DAEMON_PORT, daemonInfoPath, readLocalToken) and
 * shared/src/http/loopback.ts (isLoopbackUrl) on purpose: OpenClaw copies a plugin's dependency
 * closure when it loads it, and @tribalmemory/shared would bring the daemon's native modules
 * (better-sqlite3, onnxruntime) into every Gateway. test/openclaw/units.test.ts holds the two in step.
 */
export const DEFAULT_DAEMON_PORT = 18790;

export function tribalHome(env: NodeJS.ProcessEnv): string {
  return env.TRIBAL_MEMORY_HOME ? resolve(env.TRIBAL_MEMORY_HOME) : join(homedir(), ".tribal-memory");
}

/** The file the running daemon writes its URL to (its port may not be the default). */
export function daemonInfoFile(home: string): string {
  return join(home, "data", "daemon.json");
}

export function localTokenFile(home: string): string {
  return join(home, "local-token");
}

/** The daemon's local token, or null when it has made none (or the file is unreadable). */
export function readLocalToken(home: string): string | null {
  try {
    const token = readFileSync(localTokenFile(home), "utf8").trim();
    return /^[0-9a-f]{64}$/.test(token) ? token : null;
  } catch {
    return null;
  }
}

/** True for localhost, 127.0.0.0/8, ::1 and IPv4-mapped 127.x: the token never leaves this machine. */
export function isLoopbackUrl(url: string): boolean {
  let host: string;
  try {
    host = new URL(url).hostname.toLowerCase().replace(/\.$/, "");
  } catch {
    return false;
  }
  if (host === "localhost") return true;
  if (/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)) return true;
  // The URL parser writes IPv6 canonically: [::1], and IPv4-mapped 127.x.y.z as [::ffff:7fxx:yyzz].
  return host === "[::1]" || /^\[::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}\]$/.test(host);
}
