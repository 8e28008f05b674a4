import { describe, expect, it } from "vitest";
import {
  checkContext,
  jsonDepth,
  MAX_CHANGE_BYTES,
  MAX_SYNC_MESSAGE_BYTES,
  MAX_SYNC_PAGE_BYTES,
  MAX_WRITE_CHANGE_BYTES,
  sizePolicy,
  syncPageBudget,
  wireEntryBytes,
} from "./size-policy.ts";

describe("size policy", () => {
  it("the limits nest: a writer's change < the relay's cap; the largest entry < a page < a frame", () => {
    expect(MAX_WRITE_CHANGE_BYTES).toBeLessThan(MAX_CHANGE_BYTES);
    expect(wireEntryBytes(MAX_CHANGE_BYTES, 256, 4096 * 4)).toBeLessThan(MAX_SYNC_PAGE_BYTES);
    expect(MAX_SYNC_PAGE_BYTES * 2).toBeLessThanOrEqual(MAX_SYNC_MESSAGE_BYTES);
  });

  it("measures depth without recursion: 100,000 levels is CONTEXT_TOO_DEEP, not a stack overflow", () => {
    let deep: Record<string, unknown> = {};
    for (let i = 0; i < 100_000; i++) deep = { a: deep, list: [1] };
    expect(jsonDepth(deep, 32)).toBe(33);
    expect(() => checkContext(deep)).toThrow(expect.objectContaining({ code: "CONTEXT_TOO_DEEP" }));
    expect(jsonDepth({ a: [{ b: 1 }] })).toBe(3);
    expect(() => checkContext({ a: { b: "ok" } })).not.toThrow();
  });

  it("context is measured as stored (JSON, UTF-8 bytes), string or object", () => {
    expect(() => checkContext("é".repeat(9000))).toThrow(
      expect.objectContaining({ code: "CONTEXT_TOO_LARGE" }),
    );
    expect(() => checkContext({ note: "x".repeat(16_000) })).not.toThrow();
  });

  it("max_content_bytes may not pass the ceiling, and the page budget override only lowers it", () => {
    expect(() => sizePolicy({ maxContentBytes: 1024 * 1024 })).toThrow(/at most/);
    expect(syncPageBudget({ TRIBAL_MEMORY_SYNC_PAGE_BYTES: "65536" })).toBe(65536);
    expect(syncPageBudget({ TRIBAL_MEMORY_SYNC_PAGE_BYTES: String(1 << 30) })).toBe(MAX_SYNC_PAGE_BYTES);
    expect(syncPageBudget({})).toBe(MAX_SYNC_PAGE_BYTES);
  });
});
