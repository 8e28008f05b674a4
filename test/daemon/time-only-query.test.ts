import { describe, expect, it } from "vitest";
import { daemonHolding } from "../helpers/dated-daemon.ts";

type Recall = {
  results: {
    memory: { id: string; content: string };
    similarity_score: number;
    signals: { time?: unknown };
  }[];
  time_filter?: unknown;
};

/** Local time `daysAgo` days before today, at `hour`:00. */
function localDay(daysAgo: number, hour: number): string {
  const now = new Date();
  return new Date(now.getFullYear(), now.getMonth(), now.getDate() - daysAgo, hour).toISOString();
}

/**
 * Issue 8, bug 16: "what happened yesterday" returned nothing while memories from yesterday
 * existed. A query that is only a time phrase lists that period's memories, newest first.
 */
describe("a query that is only a time phrase", () => {
  const ids = {
    yesterdayMorning: "01900000-0000-7000-8000-000000000001",
    yesterdayAfternoon: "01900000-0000-7000-8000-000000000002",
    threeDaysAgo: "01900000-0000-7000-8000-000000000003",
    today: "01900000-0000-7000-8000-000000000004",
  };

  const d = daemonHolding(() => [
    {
      id: ids.yesterdayMorning,
      content: "Rotated the TLS certificates on the edge proxies",
      created_at: localDay(1, 9),
    },
    {
      id: ids.yesterdayAfternoon,
      content: "Merged the billing refactor after review",
      created_at: localDay(1, 16),
    },
    {
      id: ids.threeDaysAgo,
      content: "Kicked off quarterly planning with the platform team",
      created_at: localDay(3, 11),
    },
    { id: ids.today, content: "Paired on the flaky upload test", created_at: new Date().toISOString() },
  ]);

  it("'what happened yesterday' lists yesterday's memories, newest first", async () => {
    const r = await d.api.post<Recall>("/v1/recall", { query: "what happened yesterday" });
    expect(r.status).toBe(200);
    expect(r.body.results.map((x) => x.memory.id)).toEqual([ids.yesterdayAfternoon, ids.yesterdayMorning]);
    for (const x of r.body.results) {
      expect(x.similarity_score).toBeGreaterThan(0);
      expect(x.similarity_score).toBeLessThanOrEqual(1);
      expect(x.signals.time).toMatchObject({ phrase: "yesterday", matched: "created_at" });
    }
  });

  it("works for other bare periods and over GET", async () => {
    const week = await d.api.get<Recall>(
      `/v1/recall?query=${encodeURIComponent("what did we do in the past 7 days?")}`,
    );
    expect(week.body.results.map((x) => x.memory.id)).toEqual([
      ids.today,
      ids.yesterdayAfternoon,
      ids.yesterdayMorning,
      ids.threeDaysAgo,
    ]);
    const bare = await d.api.post<Recall>("/v1/recall", { query: "yesterday", limit: 1 });
    expect(bare.body.results.map((x) => x.memory.id)).toEqual([ids.yesterdayAfternoon]);
  });

  it("a topic plus a time phrase still searches by the topic", async () => {
    const r = await d.api.post<Recall>("/v1/recall", { query: "billing refactor yesterday" });
    expect(r.body.results[0]?.memory.id).toBe(ids.yesterdayAfternoon);
    expect(r.body.results.map((x) => x.memory.id)).not.toContain(ids.yesterdayMorning);
  });
});
