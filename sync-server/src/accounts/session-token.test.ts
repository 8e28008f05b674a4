import { describe, expect, it } from "vitest";
import {
  csrfMatches,
  csrfTokenOf,
  hashToken,
  newToken,
  sessionCookie,
  sessionTokenFrom,
} from "./session-token.ts";

describe("session tokens", () => {
  it("are 256 random bits, stored as a SHA-256 that does not contain them", () => {
    const t = newToken();
    expect(t).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(t, "base64url")).toHaveLength(32);
    expect(newToken()).not.toBe(t);
    expect(hashToken(t)).toMatch(/^[0-9a-f]{64}$/);
  });

  it("the CSRF token is bound to its session: another session's, a truncated or a missing one does not match", () => {
    const t = newToken();
    const csrf = csrfTokenOf(t);
    expect(csrfMatches(t, csrf)).toBe(true);
    expect(csrfMatches(t, csrfTokenOf(newToken()))).toBe(false);
    expect(csrfMatches(t, csrf.slice(1))).toBe(false);
    expect(csrfMatches(t, undefined)).toBe(false);
    expect(csrf).not.toContain(t);
  });

  it("the cookie is HttpOnly, SameSite=Strict, Path=/; Secure only when asked; clearing it expires it", () => {
    const t = newToken();
    expect(sessionCookie(t, { secure: false })).toBe(
      `tm_session=${t}; Path=/; HttpOnly; SameSite=Strict; Max-Age=1209600`,
    );
    expect(sessionCookie(t, { secure: true })).toMatch(/; Secure$/);
    expect(sessionCookie(null, { secure: true })).toBe(
      "tm_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0; Secure",
    );
  });

  it("reads the token from a Cookie header among others, and ignores malformed values", () => {
    const t = newToken();
    expect(sessionTokenFrom(`theme=dark; tm_session=${t}; other=1`)).toBe(t);
    expect(sessionTokenFrom("tm_session=short")).toBeNull();
    expect(sessionTokenFrom(`xtm_session=${t}`)).toBeNull();
    expect(sessionTokenFrom(undefined)).toBeNull();
  });
});
