import { describe, expect, it } from "vitest";
import {
  coverageScaled,
  keywordStrengths,
  lightStem,
  matchedTerms,
  reciprocalRankFusion,
  vectorStrength,
} from "./fusion.ts";

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
    // b moves up one place (fourth → third), no further.
    expect(fused.map((f) => f.id)).toEqual(["a", "c", "b", "d"]);
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

describe("keyword coverage", () => {
  it("finds the query terms a text contains, across inflections", () => {
    expect(
      matchedTerms(["invoices", "database", "switch"], "The service that invoiced users switched databases"),
    ).toEqual(["invoices", "database", "switch"]);
    expect(matchedTerms(["ledger", "api", "pager"], "Priya carries the ledger-api pager")).toEqual([
      "ledger",
      "api",
      "pager",
    ]);
    expect(matchedTerms(["retries", "billing"], "Retry budget for billing-service")).toEqual([
      "retries",
      "billing",
    ]);
    expect(matchedTerms(["kafka"], "We use Postgres")).toEqual([]);
  });

  it("stems plural, past and gerund forms together", () => {
    expect(lightStem("deploys")).toBe(lightStem("deployed"));
    expect(lightStem("caching")).toBe(lightStem("cache"));
    expect(lightStem("policies")).toBe(lightStem("policy"));
  });

  it("weakens hits that cover little of the query, counting half the query as full evidence", () => {
    const { strengths, weight } = coverageScaled([1, 1, 0.8], [1, 1 / 6, 0.25]);
    expect(strengths[0]).toBe(1);
    expect(strengths[1]).toBeCloseTo(1 / 3);
    expect(strengths[2]).toBeCloseTo(0.4);
    expect(weight).toBe(1);
  });

  it("lowers the list's weight when none of its head covers much of the query", () => {
    expect(coverageScaled([1, 0.9], [0.2, 0.1]).weight).toBeCloseTo(0.4);
    expect(coverageScaled([1, 0.9], [0.2, 0.6]).weight).toBe(1);
    expect(coverageScaled([], []).weight).toBe(1);
  });

  it("lets a fully covering hit outrank a better-ranked hit that matched one incidental term", () => {
    const hits = [
      { id: "incidental", coverage: 1 / 5 },
      { id: "covering", coverage: 1 },
    ];
    const { strengths } = coverageScaled(
      keywordStrengths([6, 5]),
      hits.map((h) => h.coverage),
    );
    const fused = reciprocalRankFusion([
      {
        name: "keyword",
        weight: 1,
        hits: hits.map((h, i) => ({ id: h.id, strength: strengths[i], raw: 0 })),
      },
    ]);
    expect(fused[0].id).toBe("covering");
  });
});
