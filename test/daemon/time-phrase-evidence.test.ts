import { describe, expect, it } from "vitest";
import { daemonHolding } from "../helpers/dated-daemon.ts";

type Recall = {
  results: { memory: { id: string }; signals: { time?: { phrase: string; matched: string } } }[];
  time_filter: { phrase: string; after: string; before: string; mode: "filter" | "boost" } | null;
};

const now = new Date();
const lastYear = now.getFullYear() - 1;
/** Local noon of a day, as the time filter reads days in local time. */
const noon = (y: number, m: number, d: number) => new Date(y, m, d, 12).toISOString();
/** The Wednesday three weeks before the most recent one (today counts). */
const wednesday = new Date(
  now.getFullYear(),
  now.getMonth(),
  now.getDate() - ((now.getDay() + 4) % 7) - 21,
  12,
);

const ids = {
  camping: "01900000-0000-7000-8000-0000000000a1",
  pottery: "01900000-0000-7000-8000-0000000000a2",
  support: "01900000-0000-7000-8000-0000000000a3",
  puppy: "01900000-0000-7000-8000-0000000000a4",
};

/**
 * Issue 12: a time phrase is evidence, never a wall. "When did Melanie go camping in June?"
 * asked about memories of last June became a filter on June of the current year and returned
 * nothing; a weekday meant only the latest one; a period holding no memories emptied recall.
 */
describe("time phrases in recall", () => {
  const d = daemonHolding(() => [
    {
      id: ids.camping,
      content: "Melanie: We went camping by the lake with the kids",
      created_at: noon(lastYear, 5, 14),
    },
    {
      id: ids.pottery,
      content: "Melanie: I finished my first pottery bowl",
      created_at: noon(lastYear, 5, 20),
    },
    {
      id: ids.support,
      content: "Caroline: The support group was so welcoming",
      created_at: noon(lastYear, 2, 3),
    },
    {
      id: ids.puppy,
      content: "Caroline: We adopted a puppy named Oscar",
      created_at: wednesday.toISOString(),
    },
  ]);

  it("a year-less month means the latest such month that holds memories", async () => {
    const r = await d.api.post<Recall>("/v1/recall", {
      query: "When did Melanie go camping in June?",
      limit: 1,
    });
    expect(r.status).toBe(200);
    expect(r.body.results.map((x) => x.memory.id)).toEqual([ids.camping]);
    expect(r.body.time_filter).toEqual({
      phrase: "June",
      after: new Date(lastYear, 5, 1).toISOString(),
      before: new Date(lastYear, 6, 1).toISOString(),
      mode: "filter",
    });
    expect(r.body.results[0].signals.time).toEqual({ phrase: "June", matched: "created_at" });
  });

  it("a weekday means the latest such weekday that holds memories", async () => {
    const r = await d.api.post<Recall>("/v1/recall", {
      query: "What did Caroline adopt on Wednesday?",
      limit: 1,
    });
    expect(r.body.results.map((x) => x.memory.id)).toEqual([ids.puppy]);
    expect(r.body.time_filter).toMatchObject({
      after: new Date(wednesday.getFullYear(), wednesday.getMonth(), wednesday.getDate()).toISOString(),
      mode: "filter",
    });
  });

  it("results the time filter thins below the limit are filled from the unfiltered ranking, matches first", async () => {
    const r = await d.api.post<Recall>("/v1/recall", {
      query: "What did Melanie and Caroline do in June?",
      limit: 4,
    });
    expect(r.body.time_filter?.mode).toBe("boost");
    const got = r.body.results.map((x) => x.memory.id);
    expect(new Set(got.slice(0, 2))).toEqual(new Set([ids.camping, ids.pottery]));
    expect(got.length).toBeGreaterThan(2);
    expect(r.body.results.slice(2).every((x) => x.signals.time === undefined)).toBe(true);
  });

  it("a period that holds no memories falls back to the unfiltered ranking (mode boost)", async () => {
    const r = await d.api.post<Recall>("/v1/recall", { query: "Melanie camping with the kids in February" });
    expect(r.status).toBe(200);
    expect(r.body.time_filter).toMatchObject({ phrase: "February", mode: "boost" });
    expect(r.body.results[0]?.memory.id).toBe(ids.camping);
    expect(r.body.results[0].signals.time).toBeUndefined();
  });
});
