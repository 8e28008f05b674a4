import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  contentWords,
  DEFAULT_DATA_DIR,
  type EvalQuery,
  evaluateRankings,
  loadDataset,
  ndcgAtK,
  parseJsonl,
  QUERY_CATEGORIES,
  recallAtK,
  reciprocalRank,
  sharedContentWords,
  supersededIds,
} from "./dataset.ts";
import { generateDataset, MIN_PER_CATEGORY, toJsonl, validateDataset } from "./generate-dataset.ts";

describe("ranking metrics", () => {
  const ranked = ["a", "b", "c", "d", "e"];

  it("recall@k is the fraction of relevant ids in the top k", () => {
    expect(recallAtK(ranked, ["b"], 1)).toBe(0);
    expect(recallAtK(ranked, ["b"], 2)).toBe(1);
    expect(recallAtK(ranked, ["a", "e"], 3)).toBe(0.5);
    expect(recallAtK(ranked, ["a", "a"], 1)).toBe(1);
    expect(recallAtK(ranked, [], 5)).toBeNaN();
  });

  it("reciprocal rank is 1 / rank of the first relevant id, 0 when absent", () => {
    expect(reciprocalRank(ranked, ["c", "e"])).toBeCloseTo(1 / 3);
    expect(reciprocalRank(ranked, ["z"])).toBe(0);
    expect(reciprocalRank(ranked, [])).toBeNaN();
  });

  it("nDCG@10 is 1 for an ideal ranking and discounts later hits", () => {
    expect(ndcgAtK(["x", "y", "n"], ["x", "y"])).toBeCloseTo(1);
    expect(ndcgAtK(["n", "x"], ["x"])).toBeCloseTo(1 / Math.log2(3));
    expect(ndcgAtK(["n", "x", "y"], ["x", "y"])).toBeCloseTo(
      (1 / Math.log2(3) + 1 / Math.log2(4)) / (1 + 1 / Math.log2(3)),
    );
    expect(ndcgAtK(["x", "x"], ["x", "y"])).toBeCloseTo(1 / (1 + 1 / Math.log2(3)));
    expect(ndcgAtK(["n"], ["x"], 10)).toBe(0);
  });

  it("averages per category and overall, leaving no-answer queries out of the means", () => {
    const q = (id: string, category: EvalQuery["category"], relevant: string[]): EvalQuery => ({
      id,
      query: id,
      category,
      relevant_ids: relevant,
      reference_date: "2025-06-30T17:00:00.000Z",
    });
    const queries = [
      q("q1", "single-fact", ["a"]),
      q("q2", "single-fact", ["b"]),
      q("q3", "multi-hop", ["a", "z"]),
      q("q4", "no-answer", []),
    ];
    const report = evaluateRankings(
      queries,
      new Map([
        ["q1", ["a"]],
        ["q3", ["a", "b"]],
        ["q4", ["a"]],
      ]),
    );
    expect(report["single-fact"]).toMatchObject({ queries: 2, "recall@1": 0.5, mrr: 0.5 });
    expect(report["multi-hop"]?.["recall@5"]).toBe(0.5);
    expect(report["no-answer"]?.queries).toBe(1);
    expect(report["no-answer"]?.mrr).toBeNaN();
    expect(report.overall).toMatchObject({ queries: 3, "recall@1": 0.5 });
    expect(report.overall?.mrr).toBeCloseTo(2 / 3);
  });
});

describe("content words", () => {
  it("splits identifiers, drops stopwords and stems inflections", () => {
    expect([...contentWords("Which databases did billing-service switch to?")]).toEqual([
      "databas",
      "bill",
      "service",
      "switch",
    ]);
    expect(
      sharedContentWords(
        "which database did the payments team switch to",
        "billing moved from MySQL to Postgres",
      ),
    ).toEqual([]);
    expect(sharedContentWords("who invoices customers", "the invoice job")).toEqual(["invoic"]);
    expect(sharedContentWords("deployment rules", "we deploy on Tuesdays")).toEqual(["deployment"]);
  });

  it("reports the line of a broken JSONL row", () => {
    expect(() => parseJsonl('{"a":1}\n{oops', "x.jsonl")).toThrow(/line 2/);
  });
});

describe("the committed evaluation set", () => {
  const data = loadDataset();

  it("is exactly what the seeded generator writes", () => {
    const fresh = generateDataset();
    expect(toJsonl(fresh.memories)).toBe(readFileSync(join(DEFAULT_DATA_DIR, "memories.jsonl"), "utf8"));
    expect(toJsonl(fresh.queries)).toBe(readFileSync(join(DEFAULT_DATA_DIR, "queries.jsonl"), "utf8"));
  });

  it("keeps its invariants: labels resolve, paraphrases share no words, windows hold their answer", () => {
    expect(validateDataset(data)).toEqual([]);
  });

  it("has enough memories and queries in every category, at commit size", () => {
    expect(data.memories.length).toBeGreaterThanOrEqual(2000);
    for (const c of QUERY_CATEGORIES)
      expect(data.queries.filter((q) => q.category === c).length).toBeGreaterThanOrEqual(MIN_PER_CATEGORY);
    const bytes =
      statSync(join(DEFAULT_DATA_DIR, "memories.jsonl")).size +
      statSync(join(DEFAULT_DATA_DIR, "queries.jsonl")).size;
    expect(bytes).toBeLessThan(5_000_000);
  });

  it("has long conversation turns, corrections and dates spread over six months", () => {
    const long = data.memories.filter((m) => m.content.length >= 300);
    expect(long.length).toBeGreaterThan(200);
    expect(Math.max(...long.map((m) => m.content.length))).toBeLessThanOrEqual(1500);
    expect(supersededIds(data.memories).size).toBeGreaterThanOrEqual(50);
    const months = new Set(data.memories.map((m) => m.created_at.slice(0, 7)));
    expect(months.size).toBeGreaterThanOrEqual(6);
    for (const m of data.memories)
      expect(m.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it("labels corrected queries with the newest memory of the chain only", () => {
    const superseded = supersededIds(data.memories);
    const corrected = data.queries.filter((q) => q.category === "corrected");
    for (const q of corrected) {
      expect(q.relevant_ids).toHaveLength(1);
      expect(superseded.has(q.relevant_ids[0])).toBe(false);
      // …which corrects another memory of the dataset.
      const supersedes = data.memories.find((m) => m.id === q.relevant_ids[0])?.supersedes as string;
      expect(data.memories.map((m) => m.id)).toContain(supersedes);
      expect(supersedes).not.toBe(q.relevant_ids[0]);
    }
  });
});
