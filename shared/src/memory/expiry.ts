import { TribalError } from "../errors.ts";
import type { Memory } from "./types.ts";

/**
 * Memory lifetimes: `expires_at` (ISO time) or `ttl` (seconds, or a duration like "7d") on
 * remember. An expired memory is hidden from every read (the stores' filter) and later
 * forgotten by the expiry sweep, as an ordinary deletion that syncs.
 */

/** A TTL as written: whole seconds, or a number with a unit (s, m, h, d, w). */
export const TTL_PATTERN = /^\s*(\d+)\s*(s|m|h|d|w)?\s*$/;
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };
/** Ten years: far enough for any lifetime, near enough that a typo of zeros is caught. */
export const MAX_TTL_SECONDS = 10 * 365 * 86_400;

/** Seconds of a TTL (`3600`, `"90m"`, `"7d"`); null when it is not one. */
export function ttlSeconds(ttl: number | string): number | null {
  if (typeof ttl === "number") return Number.isInteger(ttl) && ttl > 0 ? ttl : null;
  const m = TTL_PATTERN.exec(ttl);
  if (!m) return null;
  const seconds = Number(m[1]) * UNIT_SECONDS[m[2] ?? "s"];
  return seconds > 0 ? seconds : null;
}

const invalid = (path: string, message: string, hint: string) =>
  new TribalError("VALIDATION_FAILED", `${path} ${message}. ${hint}`, { issues: [{ path, message }] });

/**
 * The expiry of a new memory from its request, as a normalised ISO time, or null for none.
 * Refused with VALIDATION_FAILED (path `expires_at` or `ttl`): both given, an unreadable
 * value, a TTL over MAX_TTL_SECONDS, or an expiry not after `now` (it would never be seen).
 */
export function resolveExpiresAt(
  body: { expires_at?: string | null; ttl?: number | string | null },
  now: Date,
): string | null {
  const hasAt = body.expires_at !== undefined && body.expires_at !== null;
  const hasTtl = body.ttl !== undefined && body.ttl !== null;
  if (hasAt && hasTtl) {
    throw invalid("ttl", "and expires_at were both given", "Send one of them.");
  }
  if (hasTtl) {
    const seconds = ttlSeconds(body.ttl as number | string);
    if (seconds === null) {
      throw invalid(
        "ttl",
        "is not a lifetime",
        'Send seconds (3600) or a duration such as "90m", "12h", "7d", "2w".',
      );
    }
    if (seconds > MAX_TTL_SECONDS) {
      throw invalid(
        "ttl",
        `is over ${MAX_TTL_SECONDS} seconds (10 years)`,
        "Leave ttl out for a memory that never expires.",
      );
    }
    return new Date(now.getTime() + seconds * 1000).toISOString();
  }
  if (!hasAt) return null;
  const ms = Date.parse(body.expires_at as string);
  if (!Number.isFinite(ms)) {
    throw invalid("expires_at", "is not a time", "Send an ISO 8601 time such as 2030-01-31T12:00:00Z.");
  }
  if (ms <= now.getTime()) {
    throw invalid(
      "expires_at",
      "is in the past",
      `It would be hidden at once; send a time after ${now.toISOString()}, or a ttl.`,
    );
  }
  return new Date(ms).toISOString();
}

/** Epoch ms of a memory's expiry, or null when it never expires. */
export function expiresMs(m: Pick<Memory, "expires_at">): number | null {
  if (!m.expires_at) return null;
  const ms = Date.parse(m.expires_at);
  return Number.isFinite(ms) ? ms : null;
}

/** Whether the memory has expired at `nowMs`. */
export function isExpired(m: Pick<Memory, "expires_at">, nowMs: number): boolean {
  const at = expiresMs(m);
  return at !== null && at <= nowMs;
}

/**
 * A duplicate of an expiring memory keeps the longer life: remembering the same fact again
 * without an expiry (or with a later one) must not leave it to vanish with the first. The edit
 * that extends `existing` to `incoming`'s lifetime, or null when it lives long enough already.
 */
export function longerExpiry(
  existing: Pick<Memory, "expires_at">,
  incoming: Pick<Memory, "expires_at">,
): { expires_at: string | null } | null {
  const have = expiresMs(existing);
  if (have === null) return null;
  const want = expiresMs(incoming);
  if (want === null) return { expires_at: null };
  return want > have ? { expires_at: incoming.expires_at as string } : null;
}
