import { describe, expect, it } from "vitest";
import { daemonHolding } from "../helpers/dated-daemon.ts";

type Recall = {
  results: { memory: { id: string }; signals: { time?: unknown } }[];
  time_filter?: unknown;
};

/** Local noon `daysAgo` days before today, as ISO. */
function localNoon(daysAgo: number): string {
  const now = new Date();
  return new Date(now.getFullYear(), now.getMonth(), now.getDate() - daysAgo, 12).toISOString();
}

/**
 * Issue 12: "two weeks ago" became a filter on the one day fourteen days back, so a decision made
 * in that week but on another day was hidden whenever that one day held other memories (5 of the
 * labelled set's 72 period questions). It means the week that held that day.
 */
describe("'N weeks ago' in a query", () => {
  const ids = {
    decision: "01900000-0000-7000-8000-0000000000a1",
    sameDay: "01900000-0000-7000-8000-0000000000a2",
    olderDecision: "01900000-0000-7000-8000-0000000000a3",
  };
  // Fourteen days back, and another day of that Monday-to-Sunday week.
  const back = new Date(Date.now() - 14 * 86_400_000);
  const weekday = (back.getDay() + 6) % 7; // 0 = Monday
  const otherDay = weekday === 0 ? 13 : 14 + weekday; // the Tuesday after, or that week's Monday

  const d = daemonHolding(() => [
    {
      id: ids.decision,
      content: "We decided ledger-api retries use a retry budget of ten percent instead of per-call counts.",
      created_at: localNoon(otherDay),
    },
    {
      id: ids.sameDay,
      content: "Rotated the TLS certificates on the edge proxies.",
      created_at: localNoon(14),
    },
    {
      id: ids.olderDecision,
      content: "We decided ledger-api retries back off exponentially from 100 ms.",
      created_at: localNoon(50),
    },
  ]);

  it("finds the decision made in that week, not only on the day fourteen days back", async () => {
    const r = await d.api.post<Recall>("/v1/recall", {
      query: "What did we decide about ledger-api retries two weeks ago?",
    });
    expect(r.status).toBe(200);
    expect(r.body.results[0]?.memory.id).toBe(ids.decision);
    expect(r.body.results[0]?.signals.time).toMatchObject({ phrase: "two weeks ago" });
    expect(r.body.time_filter).toMatchObject({ phrase: "two weeks ago" });
    // The decision five weeks earlier is outside the week: it may follow (the period held fewer
    // than the limit), never with the period's signal.
    const older = r.body.results.find((x) => x.memory.id === ids.olderDecision);
    expect(older?.signals.time).toBeUndefined();
  });
});
