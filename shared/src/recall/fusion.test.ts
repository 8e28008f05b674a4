import { describe, expect, it } from "vitest";
import { keywordStrengths, reciprocalRankFusion, vectorStrength } from "./fusion.ts";

describe("reciprocalRankFusion", () => {
  it("puts a hit found by both lists above hits found by one", () => {
    const fused = reciprocalRankFusion([
      {
        name: "keyword",
        weight: 1,
        hits: [
          { id: "a", strength: 1, raw: 5 },
          { id: "b", strength: 0.9, raw: 4 },
        ],
      },
      {
        name: "vector",
        weight: 1,
        hits: [
          { id: "c", strength: 1, raw: 0.9 },
          { id: "b", strength: 0.9, raw: 0.8 },
        ],
      },
    ]);
    expect(fused[0].id).toBe("b");
    expect(fused[0].signals).toHaveProperty("keyword");
    expect(fused[0].signals).toHaveProperty("vector");
  });

  it("scores in 0..1 with 1 for first everywhere at full strength", () => {
    const fused = reciprocalRankFusion([
      { name: "keyword", weight: 1, hits: [{ id: "a", strength: 1, raw: 1 }] },
      { name: "vector", weight: 0.5, hits: [{ id: "a", strength: 1, raw: 1 }] },
    ]);
    expect(fused[0].score).toBeCloseTo(1, 6);
  });

  it("lets a low-weight list only nudge the order", () => {
    const fused = reciprocalRankFusion([
      { name: "keyword", weight: 1, hits: ["a", "c", "d", "b"].map((id) => ({ id, strength: 1, raw: 1 })) },
      { name: "vector", weight: 0.1, hits: [{ id: "b", strength: 1, raw: 1 }] },
    ]);
    expect(fused[0].id).toBe("a");
    expect(fused.map((f) => f.id).indexOf("b")).toBeGreaterThan(0);
  });
});

describe("signal strengths", () => {
  it("maps cosine between floor and ceiling onto 0..1", () => {
    expect(vectorStrength(0.2, 0.3, 0.9)).toBe(0);
    expect(vectorStrength(0.6, 0.3, 0.9)).toBeCloseTo(0.5);
    expect(vectorStrength(0.95, 0.3, 0.9)).toBe(1);
  });
  it("scales BM25 relative to the best hit", () => {
    const s = keywordStrengths([8, 4, 0]);
    expect(s[0]).toBeGreaterThan(s[1]);
    expect(s[1]).toBeGreaterThan(s[2]);
    expect(Math.max(...s)).toBeLessThanOrEqual(1);
  });
});
