import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestDaemon, tempHome } from "../helpers/daemon.ts";

type Daemon = Awaited<ReturnType<typeof startTestDaemon>>;

describe("recall with threads over HTTP", () => {
  const home = tempHome("tm-thread-recall-");
  let d: Daemon;
  beforeAll(async () => {
    d = await startTestDaemon(home.home);
  });
  afterAll(async () => {
    await d.close();
    home.cleanup();
  });

  it("a memory's own words outrank its neighbours', for facts an agent remembers one after another", async () => {
    for (const content of [
      "The billing service stores invoices in Postgres",
      "Deploys happen on Tuesday afternoons",
      "The search cluster runs Elasticsearch eight",
    ]) {
      expect((await d.api.post("/v1/remember", { content })).status).toBe(201);
    }
    const r = await d.api.post("/v1/recall", { query: "when do deploys happen", limit: 3, min_relevance: 0 });
    // The neighbours match "deploys happen" only through the thread: context, not evidence of their own.
    expect((r.body.results as { memory: { content: string } }[]).map((h) => h.memory.content)).toEqual([
      "Deploys happen on Tuesday afternoons",
    ]);
  });

  it("finds the reply to a question through the question's words", async () => {
    const chat = tempHome("tm-thread-chat-");
    const other = await startTestDaemon(chat.home, { embedding: "offline" });
    try {
      const turns = [
        "Caroline: I finally finished the painting for the hallway.",
        "Melanie: Where did you go camping last month?",
        "Caroline: We drove up to the lake with the kids, it was lovely.",
        "Melanie: I started a pottery class on Thursdays.",
      ];
      const ids: string[] = [];
      for (const content of turns)
        ids.push((await other.api.post("/v1/remember", { content })).body.memory.id);
      const r = await other.api.post("/v1/recall", {
        query: "where did they go camping",
        limit: 2,
        min_relevance: 0,
      });
      // The reply holds the answer; the question that named camping follows it (a memory that
      // asks ranks below one that tells).
      expect((r.body.results as { memory: { id: string } }[]).map((x) => x.memory.id)).toEqual([
        ids[2],
        ids[1],
      ]);
    } finally {
      await other.close();
      chat.cleanup();
    }
  });
});
