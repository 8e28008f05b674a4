/**
 * Login-session and one-time tokens, without storage. A token carries 256 random bits, so
 * its SHA-256 is what the database keeps (as for API keys): a copy of the table logs nobody in.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/** The cookie that holds a login session's token. */
export const SESSION_COOKIE = "tm_session";
/** Sliding lifetime: a session unused this long expires; each use (≥ 1 min apart) extends it. */
export const SESSION_TTL_MS = 14 * 24 * 3600 * 1000;
/** The header a cookie-authenticated non-GET request must carry (`GET /v1/auth/me` gives it). */
export const CSRF_HEADER = "x-csrf-token";

/** 256 random bits, URL-safe. */
export function newToken(): string {
  return randomBytes(32).toString("base64url");
}

export function hashToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

/**
 * The session's CSRF token: an HMAC of the session token, so it is bound to that session,
 * needs no storage, and only a page that could read `/v1/auth/me` (same origin) learns it.
 */
export function csrfTokenOf(sessionToken: string): string {
  return createHmac("sha256", sessionToken).update("tribalmemory csrf v1").digest("base64url");
}

export function csrfMatches(sessionToken: string, sent: string | undefined): boolean {
  if (!sent) return false;
  const expected = Buffer.from(csrfTokenOf(sessionToken));
  const got = Buffer.from(sent);
  return got.length === expected.length && timingSafeEqual(got, expected);
}

/** The Set-Cookie value for a session (or, with `token` null, one that clears it). */
export function sessionCookie(token: string | null, options: { secure: boolean }): string {
  const parts = [
    `${SESSION_COOKIE}=${token ?? ""}`,
    "Path=/",
    "HttpOnly",
    // Strict: no cross-site request (form post, WebSocket, link) carries the session at all.
    "SameSite=Strict",
    `Max-Age=${token ? Math.floor(SESSION_TTL_MS / 1000) : 0}`,
  ];
  if (options.secure) parts.push("Secure");
  return parts.join("; ");
}

/** The session token from a Cookie header, or null. */
export function sessionTokenFrom(cookieHeader: string | undefined): string | null {
  if (!cookieHeader) return null;
  for (const part of cookieHeader.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === SESSION_COOKIE) {
      const value = part.slice(eq + 1).trim();
      return /^[A-Za-z0-9_-]{43}$/.test(value) ? value : null;
    }
  }
  return null;
}
