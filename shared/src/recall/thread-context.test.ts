import { describe, expect, it } from "vitest";
import type { Memory } from "../memory/types.ts";
import type { FusedHit } from "./fusion.ts";
import { SESSION_SHARE, sessionBoost, THREAD_GAP_MS } from "./thread-context.ts";

const hit = (id: string, score: number): FusedHit => ({ id, score, signals: {} });
const memory = (id: string, instance: string, at: number) =>
  [id, { id, source_instance: instance, created_at: new Date(at).toISOString() } as Memory] as const;

describe("sessionBoost", () => {
  const t0 = Date.parse("2026-05-01T10:00:00Z");

  it("raises the hits of the session the head matches best, by its share of the best session", () => {
    const memories = new Map([
      memory("a1", "chat-a", t0),
      memory("a2", "chat-a", t0 + 10 * 60_000),
      memory("a3", "chat-a", t0 + 20 * 60_000),
      memory("b1", "chat-b", t0),
    ]);
    const head = [hit("b1", 0.5), hit("a1", 0.45), hit("a2", 0.3), hit("a3", 0.25)];
    const out = sessionBoost(head, memories);
    // Session a sums 1.0 (the best), b 0.5: a1 gains 0.3 × 0.5, b1 half of that.
    expect(out.map((f) => f.id)).toEqual(["a1", "b1", "a2", "a3"]);
    expect(out[0].score).toBeCloseTo(0.45 + SESSION_SHARE * 0.5, 9);
    expect(out[1].score).toBeCloseTo(0.5 + (SESSION_SHARE * 0.5 * 0.5) / 1.0, 9);
  });

  it("splits one instance's hits into sessions at a gap longer than a thread's", () => {
    const memories = new Map([
      memory("x1", "chat", t0),
      memory("x2", "chat", t0 + THREAD_GAP_MS + 1),
      memory("y", "other", t0),
    ]);
    // Were x1 and x2 one session (0.8), x2 would pass y; apart, each is its own.
    const out = sessionBoost([hit("x1", 0.4), hit("y", 0.39), hit("x2", 0.38)], memories);
    expect(out.map((f) => f.id)).toEqual(["x1", "y", "x2"]);
  });

  it("leaves a single hit as it is", () => {
    const head = [hit("only", 0.7)];
    expect(sessionBoost(head, new Map())).toBe(head);
  });
});
