import { describe, expect, it } from "vitest";
import { keywordTerms } from "./keyword-query.ts";

describe("keywordTerms", () => {
  it("drops stopwords and duplicates, keeps order", () => {
    expect(keywordTerms("What did we decide about the Postgres postgres migration?")).toEqual([
      "decide",
      "postgres",
      "migration",
    ]);
  });
  it("keeps identifiers and numbers", () => {
    expect(keywordTerms("billing-service on port 8080 uses snake_case_name")).toEqual([
      "billing",
      "service",
      "port",
      "8080",
      "uses",
      "snake_case_name",
    ]);
  });
  it("falls back to the words of an all-stopword query", () => {
    expect(keywordTerms("what is it")).toEqual(["what", "is", "it"]);
  });
  it("returns nothing for punctuation only", () => {
    expect(keywordTerms("?!... --")).toEqual([]);
  });
});
