import { describe, expect, it } from "vitest";
import { type ChunkMessage, chunkMessages, DEFAULT_CHUNKING, MAX_TOKEN_CHARS, tokenize } from "./chunking.ts";

const msg = (seq: number, content: string, role = "user"): ChunkMessage => ({
  seq,
  role,
  content,
  timestampMs: 1000 + seq,
});
const words = (n: number, prefix = "w") => Array.from({ length: n }, (_, i) => `${prefix}${i}`).join(" ");

describe("session chunking", () => {
  it("cuts windows of about 300 words that overlap", () => {
    const chunks = chunkMessages([msg(0, words(1000))]);
    expect(chunks.length).toBeGreaterThan(3);
    for (const c of chunks.slice(0, -1)) expect(c.wordCount).toBe(300);
    // The second window starts 50 words before the first one ended.
    expect(chunks[1].start).toEqual({ seq: 0, token: 250 });
    expect(chunks[1].content).toContain("w250 ");
    expect(chunks[0].content).toContain("w299");
  });

  it("terminates with bounded chunks on a 10 MB message without spaces", () => {
    const started = Date.now();
    const blob = "x".repeat(10 * 1024 * 1024);
    const tokens = tokenize(blob);
    expect(tokens).toHaveLength(blob.length / MAX_TOKEN_CHARS);
    expect(new Set(tokens.map((t) => t.length))).toEqual(new Set([MAX_TOKEN_CHARS]));
    const chunks = chunkMessages([msg(0, blob)]);
    expect(chunks.length).toBeGreaterThan(1000);
    expect(Math.max(...chunks.map((c) => c.content.length))).toBeLessThanOrEqual(
      DEFAULT_CHUNKING.maxChars + 32,
    );
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it("terminates for degenerate options (overlap >= target, tiny char cap)", () => {
    const chunks = chunkMessages([msg(0, words(50))], null, {
      targetWords: 3,
      overlapWords: 10,
      maxChars: 1,
    });
    expect(chunks.length).toBeGreaterThanOrEqual(17);
    expect(chunks.at(-1)?.content).toContain("w49");
  });

  it("never splits a surrogate pair", () => {
    const text = "😀".repeat(100);
    for (const t of tokenize(text)) expect(t.isWellFormed()).toBe(true);
  });

  it("re-chunking from the open chunk equals chunking the whole session at once", () => {
    const all = [
      msg(0, words(400, "a")),
      msg(1, words(120, "b"), "assistant"),
      msg(2, words(333, "c")),
      msg(3, words(7, "d")),
    ];
    const whole = chunkMessages(all);
    // Incremental: first two messages, then the rest from the open (last) chunk's start.
    const first = chunkMessages(all.slice(0, 2));
    const open = first.at(-1)!;
    const rest = chunkMessages(all, open.start);
    expect([...first.slice(0, -1), ...rest].map((c) => c.content)).toEqual(whole.map((c) => c.content));
  });

  it("labels each message with its role", () => {
    const [c] = chunkMessages([msg(0, "how do we deploy"), msg(1, "with pnpm deploy", "assistant")]);
    expect(c.content).toBe("user: how do we deploy\nassistant: with pnpm deploy");
  });
});
