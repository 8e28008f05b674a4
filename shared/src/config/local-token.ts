import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * The daemon's local API token: 256 random bits in `<tribal home>/local-token`, mode 600, made
 * at first start. Only this user can read it, so a request that carries it comes from a program
 * of this user (the CLI, the MCP server), not from a web page or another account on the machine.
 */
export function localTokenPath(home: string): string {
  return join(home, "local-token");
}

const TOKEN_FORMAT = /^[0-9a-f]{64}$/;

/** The token, or null when the daemon has not made one yet (or the file is unreadable). */
export function readLocalToken(home: string): string | null {
  try {
    const token = readFileSync(localTokenPath(home), "utf8").trim();
    return TOKEN_FORMAT.test(token) ? token : null;
  } catch {
    return null;
  }
}

/** The daemon's side: read the token, or create it on first start. Tightens a loosened file mode. */
export function ensureLocalToken(home: string): string {
  const path = localTokenPath(home);
  const existing = readLocalToken(home);
  if (existing) {
    if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600);
    return existing;
  }
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const token = randomBytes(32).toString("hex");
  try {
    // `wx`: two daemons starting at once (two data folders, one home) must agree on one token.
    writeFileSync(path, `${token}\n`, { mode: 0o600, flag: "wx" });
    return token;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    const other = readLocalToken(home);
    if (other) return other;
    // A file that is not a token (empty, edited by hand): replace it.
    writeFileSync(path, `${token}\n`, { mode: 0o600 });
    chmodSync(path, 0o600);
    return token;
  }
}

/** Constant-time comparison, so response timing does not reveal how much of a guess was right. */
export function localTokenMatches(expected: string, presented: string): boolean {
  const a = createHash("sha256").update(expected).digest();
  const b = createHash("sha256").update(presented).digest();
  return timingSafeEqual(a, b);
}
