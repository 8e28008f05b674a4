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

  it("reads a weekday alone as the last one up to the day of writing, whatever day that was", () => {
    // chrono takes the nearest Friday: from Tuesday to Thursday the coming one, which became
    // tomorrow or, more than a day ahead, the same date a year back.
    for (const [written, friday] of [
      ["2025-03-13T13:08:41Z", "2025-03-07"], // a Thursday
      ["2025-04-09T07:38:04Z", "2025-04-04"], // a Wednesday
      ["2025-02-04T07:16:04Z", "2025-01-31"], // a Tuesday
      ["2025-03-07T07:41:23Z", "2025-03-07"], // the Friday itself
      ["2025-03-10T12:00:00Z", "2025-03-07"], // a Monday
    ]) {
      const [d] = extractEventDates("On Friday we rolled back api-gateway v1.32.6.", new Date(written));
      expect(new Date(d.start).toISOString().slice(0, 10), written).toBe(friday);
      expect(d.end - d.start).toBe(86_400_000);
    }
    // A weekday the text puts ahead stays ahead.
    const [next] = extractEventDates("Next Friday we migrate ledger-api.", new Date("2025-03-11T09:00:00Z"));
    expect(next.start).toBeGreaterThan(day("2025-03-11"));
  });

  it("reads a month and day without a year as the last such date before the memory", () => {
    const [d] = extractEventDates("March 3: ledger-api had an outage.", new Date("2025-02-10T12:00:00Z"));
    expect(d.start).toBe(day("2024-03-03"));
  });

  it("ignores texts without dates and bare times of day", () => {
    expect(extractEventDates("The job runs at 5 and takes 12 minutes.", new Date())).toEqual([]);
  });
});
