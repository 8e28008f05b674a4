import { describe, expect, it } from "vitest";
import type { Memory } from "../memory/types.ts";
import type { FusedHit } from "./fusion.ts";
import { rerankCandidates } from "./rerank.ts";

const memory = (id: string, content: string, extra: Partial<Memory> = {}): Memory => ({
  id,
  content,
  source_type: "user_explicit",
  source_instance: "t",
  tags: [],
  context: null,
  confidence: 1,
  supersedes: null,
  duplicate_of: null,
  created_at: "2025-01-01T00:00:00Z",
  updated_at: "2025-01-01T00:00:00Z",
  deleted: false,
  ...extra,
});
const hit = (id: string, score: number): FusedHit => ({ id, score, signals: {} });
const off = {
  entityOverlap: null,
  confidence: false,
  mmr: false,
  recency: false,
  now: Date.parse("2025-06-01"),
  picks: 10,
};

describe("rerankCandidates", () => {
  it("changes nothing when every step is off", () => {
    const head = [hit("a", 0.5), hit("b", 0.4)];
    expect(rerankCandidates(head, new Map(), off)).toBe(head);
  });

  it("lets a different memory pass a near-duplicate of the first with MMR", () => {
    const mems = new Map([
      ["a", memory("a", "ledger-api uses Postgres 15 in production")],
      ["b", memory("b", "ledger-api uses Postgres 15 in production today")],
      ["c", memory("c", "Priya carries the ledger-api pager")],
    ]);
    const out = rerankCandidates([hit("a", 0.5), hit("b", 0.49), hit("c", 0.45)], mems, {
      ...off,
      mmr: true,
    });
    expect(out.map((h) => h.id)).toEqual(["a", "c", "b"]);
  });

  it("ranks a low-confidence memory below an equally relevant confident one", () => {
    const mems = new Map([
      ["a", memory("a", "x", { confidence: 0.2 })],
      ["b", memory("b", "y", { confidence: 1 })],
    ]);
    const out = rerankCandidates([hit("a", 0.5), hit("b", 0.5)], mems, { ...off, confidence: true });
    expect(out.map((h) => h.id)).toEqual(["b", "a"]);
  });
});
