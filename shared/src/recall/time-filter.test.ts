import { describe, expect, it } from "vitest";
import { isStopword } from "./keyword-query.ts";
import { isPeriodOnlyQuery, mostRecentHeld, parseTimeFilter, stripTimePhrase } from "./time-filter.ts";

// Tuesday 2026-03-17, local time.
const now = new Date(2026, 2, 17, 15, 30);
const day = (y: number, m: number, d: number) => new Date(y, m - 1, d).getTime();

describe("parseTimeFilter", () => {
  it("reads yesterday and today as whole days", () => {
    expect(parseTimeFilter("what broke yesterday", now)).toMatchObject({
      after: day(2026, 3, 16),
      before: day(2026, 3, 17),
      phrase: "yesterday",
    });
    expect(parseTimeFilter("decisions today", now)).toMatchObject({
      after: day(2026, 3, 17),
      before: day(2026, 3, 18),
    });
  });

  it("reads last week as the previous Monday-to-Monday week", () => {
    expect(parseTimeFilter("what did we decide last week about auth", now)).toMatchObject({
      after: day(2026, 3, 9),
      before: day(2026, 3, 16),
      phrase: "last week",
    });
  });

  it("reads 'N weeks/days/months/years ago' as the period that held that instant", () => {
    // From Tuesday 2026-03-17: two weeks back is Tuesday 03-03, in the week of Monday 03-02.
    const cases: [string, number, number, Date?][] = [
      ["what did we decide two weeks ago about retries", day(2026, 3, 2), day(2026, 3, 9)],
      ["Two weeks ago, what changed?", day(2026, 3, 2), day(2026, 3, 9)],
      ["the deploy a week ago", day(2026, 3, 9), day(2026, 3, 16)],
      ["what broke 3 days ago", day(2026, 3, 14), day(2026, 3, 15)],
      ["the plan from a month ago", day(2026, 2, 1), day(2026, 3, 1)],
      ["what did Evan start two years ago", day(2024, 1, 1), day(2025, 1, 1)],
      // Across a year's start: two weeks before Wednesday 2026-01-07 is in the week of 2025-12-22.
      ["two weeks ago", day(2025, 12, 22), day(2025, 12, 29), new Date(2026, 0, 7, 9)],
    ];
    for (const [query, after, before, at] of cases)
      expect(parseTimeFilter(query, at ?? now), query).toMatchObject({ after, before });
    expect(parseTimeFilter("what broke 3 days ago", now)?.phrase).toBe("3 days ago");
  });

  it("reads a month name as that whole month, in the past", () => {
    expect(parseTimeFilter("what happened in March", now)).toMatchObject({
      after: day(2026, 3, 1),
      before: day(2026, 4, 1),
    });
    expect(parseTimeFilter("the outage in November", now)).toMatchObject({
      after: day(2025, 11, 1),
      before: day(2025, 12, 1),
    });
  });

  it("reads an explicit date and past N days", () => {
    expect(parseTimeFilter("deploys on 2026-03-02", now)).toMatchObject({
      after: day(2026, 3, 2),
      before: day(2026, 3, 3),
    });
    const r = parseTimeFilter("errors in the past 3 days", now);
    expect(r?.after).toBe(now.getTime() - 3 * 86_400_000);
  });

  it("finds no time in ordinary queries", () => {
    for (const q of [
      "which database does billing use",
      "alice prefers tabs",
      "port 8080 config",
      "version 2 of the api",
    ]) {
      expect(parseTimeFilter(q, now)).toBeNull();
    }
  });

  it("strips the phrase from the query text", () => {
    const f = parseTimeFilter("what did we decide last week about auth", now);
    expect(stripTimePhrase("what did we decide last week about auth", f)).toBe(
      "what did we decide about auth",
    );
  });
});

describe("isPeriodOnlyQuery", () => {
  const only = (q: string) => isPeriodOnlyQuery(q, parseTimeFilter(q, now), isStopword);
  it("is true when nothing but the period is asked for", () => {
    expect(only("what happened yesterday")).toBe(true);
    expect(only("yesterday")).toBe(true);
    expect(only("anything new this week?")).toBe(true);
    expect(only("what did we work on last month")).toBe(true);
  });
  it("is false with a topic, or without a time phrase", () => {
    expect(only("what broke yesterday")).toBe(false);
    expect(only("billing refactor last week")).toBe(false);
    expect(only("what happened")).toBe(false);
  });
});

describe("mostRecentHeld", () => {
  const local = (y: number, m: number, d: number) => new Date(y, m, d).getTime();
  it("moves a year-less month back to the latest year whose month holds memories", async () => {
    const f = parseTimeFilter("camping in June", now);
    expect(f?.repeats).toBe("year");
    const tried: number[] = [];
    const got = await mostRecentHeld(f!, async (c) => {
      tried.push(new Date(c.after).getFullYear());
      return new Date(c.after).getFullYear() === 2023;
    });
    expect(tried).toEqual([2025, 2024, 2023]);
    expect([got.after, got.before]).toEqual([local(2023, 5, 1), local(2023, 6, 1)]);
  });
  it("moves a weekday back week by week", async () => {
    const f = parseTimeFilter("what did we ship on Friday", now);
    expect(f?.repeats).toBe("week");
    const got = await mostRecentHeld(f!, async (c) => c.after <= local(2026, 2, 1));
    expect([got.after, got.before]).toEqual([local(2026, 1, 27), local(2026, 1, 28)]);
  });
  it("keeps a period with its year, a relative one, or one no earlier repeat holds", async () => {
    expect(parseTimeFilter("in March 2025", now)?.repeats).toBeUndefined();
    expect(parseTimeFilter("last week", now)?.repeats).toBeUndefined();
    const f = parseTimeFilter("in June", now)!;
    expect(await mostRecentHeld(f, async () => false)).toEqual(f);
  });
});
