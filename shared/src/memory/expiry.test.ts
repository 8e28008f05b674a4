import { describe, expect, it } from "vitest";
import type { TribalError } from "../errors.ts";
import { isExpired, MAX_TTL_SECONDS, resolveExpiresAt, ttlSeconds } from "./expiry.ts";

describe("memory lifetimes", () => {
  const now = new Date("2026-03-01T12:00:00.000Z");
  const pathOf = (fn: () => unknown) => {
    try {
      fn();
      return null;
    } catch (e) {
      const err = e as TribalError;
      return `${err.code} ${(err.details as { issues: { path: string }[] }).issues[0].path}`;
    }
  };

  it("reads a ttl as seconds or a number with a unit", () => {
    expect([3600, "3600", "45s", "90m", "12h", "7d", "2w", " 1 d "].map((t) => ttlSeconds(t))).toEqual([
      3600, 3600, 45, 5400, 43_200, 604_800, 1_209_600, 86_400,
    ]);
    expect([0, -5, 1.5, "0d", "7 days", "d", "1y", ""].map((t) => ttlSeconds(t))).toEqual([
      null,
      null,
      null,
      null,
      null,
      null,
      null,
      null,
    ]);
  });

  it("turns ttl or expires_at into a normalised time after now", () => {
    expect(resolveExpiresAt({ ttl: "7d" }, now)).toBe("2026-03-08T12:00:00.000Z");
    expect(resolveExpiresAt({ expires_at: "2026-03-02T00:00:00+01:00" }, now)).toBe(
      "2026-03-01T23:00:00.000Z",
    );
    expect(resolveExpiresAt({}, now)).toBeNull();
    expect(resolveExpiresAt({ ttl: null, expires_at: null }, now)).toBeNull();
  });

  it("refuses a past expiry, both fields, an unreadable value and a ttl over ten years, naming the field", () => {
    expect(pathOf(() => resolveExpiresAt({ expires_at: "2026-03-01T12:00:00Z" }, now))).toBe(
      "VALIDATION_FAILED expires_at",
    );
    expect(pathOf(() => resolveExpiresAt({ expires_at: "tomorrow-ish" }, now))).toBe(
      "VALIDATION_FAILED expires_at",
    );
    expect(pathOf(() => resolveExpiresAt({ ttl: 60, expires_at: "2030-01-01T00:00:00Z" }, now))).toBe(
      "VALIDATION_FAILED ttl",
    );
    expect(pathOf(() => resolveExpiresAt({ ttl: "soon" }, now))).toBe("VALIDATION_FAILED ttl");
    expect(pathOf(() => resolveExpiresAt({ ttl: MAX_TTL_SECONDS + 1 }, now))).toBe("VALIDATION_FAILED ttl");
  });

  it("is expired from its expires_at on, never without one", () => {
    const at = Date.parse("2026-03-01T12:00:00Z");
    expect(isExpired({ expires_at: "2026-03-01T12:00:00.000Z" }, at - 1)).toBe(false);
    expect(isExpired({ expires_at: "2026-03-01T12:00:00.000Z" }, at)).toBe(true);
    expect(isExpired({}, Number.MAX_SAFE_INTEGER)).toBe(false);
  });
});
