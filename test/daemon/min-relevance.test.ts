import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestDaemon, tempHome } from "../helpers/daemon.ts";

type Hit = { memory: { content: string }; similarity_score: number };

describe("min_relevance by default over HTTP (the offline model)", () => {
  const home = tempHome("tm-min-relevance-");
  let d: Awaited<ReturnType<typeof startTestDaemon>>;
  beforeAll(async () => {
    d = await startTestDaemon(home.home, { embedding: "offline" });
    for (const content of [
      "The billing service stores invoices in Postgres",
      "Deploys happen on Tuesday afternoons",
      "The search cluster runs Elasticsearch eight",
      "Alice prefers tabs over spaces in Go code",
    ]) {
      // Separate writers: no thread between these facts.
      expect(
        (await d.api.post("/v1/remember", { content, source_instance: content.slice(4, 16) })).status,
      ).toBe(201);
    }
  });
  afterAll(async () => {
    await d.close();
    home.cleanup();
  });

  it("a question nothing answers gets nothing back, not a 0.01 match; min_relevance 0 still shows it", async () => {
    const query = "what colour is the office carpet in the berlin building";
    const all = await d.api.post("/v1/recall", { query, min_relevance: 0 });
    expect(all.body.results.length).toBeGreaterThan(0);
    expect(Math.max(...(all.body.results as Hit[]).map((h) => h.similarity_score))).toBeLessThan(0.1);
    const byDefault = await d.api.post("/v1/recall", { query });
    expect(byDefault.status).toBe(200);
    expect(byDefault.body.results).toEqual([]);
  });

  it("the answer stays, its weak tail goes", async () => {
    const r = await d.api.post("/v1/recall", { query: "how many tabs", limit: 10 });
    const hits = r.body.results as Hit[];
    expect(hits[0].memory.content).toContain("tabs");
    expect(hits.every((h) => h.similarity_score >= 0.1)).toBe(true);
    const get = await d.api.get("/v1/recall?query=how%20many%20tabs&min_relevance=0");
    expect((get.body.results as Hit[]).length).toBeGreaterThan(hits.length);
  });
});
