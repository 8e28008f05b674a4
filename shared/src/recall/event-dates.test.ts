import { describe, expect, it } from "vitest";
import { extractEventDates } from "./event-dates.ts";

const day = (iso: string) => Date.parse(`${iso}T00:00:00Z`);

describe("extractEventDates", () => {
  it("resolves a weekday against the memory's own time, not today", () => {
    // Written on Monday 2025-03-10: "on Friday" is Friday 2025-03-07.
    const [d] = extractEventDates(
      "On Friday we moved billing to Postgres.",
      new Date("2025-03-10T12:00:00Z"),
    );
    expect(d.start).toBe(day("2025-03-07"));
    expect(d.end).toBe(day("2025-03-08"));
  });

  it("reads a month and day without a year as the last such date before the memory", () => {
    const [d] = extractEventDates("March 3: ledger-api had an outage.", new Date("2025-02-10T12:00:00Z"));
    expect(d.start).toBe(day("2024-03-03"));
  });

  it("ignores texts without dates and bare times of day", () => {
    expect(extractEventDates("The job runs at 5 and takes 12 minutes.", new Date())).toEqual([]);
  });
});
