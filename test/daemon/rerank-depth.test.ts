import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestDaemon, tempHome } from "../helpers/daemon.ts";

type Daemon = Awaited<ReturnType<typeof startTestDaemon>>;

/**
 * Vector search gives 80 candidates (keyword search 40) and the rerank reads the fused top 50 (it
 * read 30 of 40): the speaker, question and session steps can then lift an answer from ranks
 * 31-50, which LoCoMo's answers often need (`pnpm bench locomo`: recall@10 .768 -> .775).
 */
describe("recall's candidate depth", () => {
  const home = tempHome("tm-rerank-depth-");
  let d: Daemon;
  beforeAll(async () => {
    d = await startTestDaemon(home.home);
  });
  afterAll(async () => {
    await d.close();
    home.cleanup();
  });

  it("searches 80 vector candidates and reranks the top 50 for a limit of 10", async () => {
    const day = Date.UTC(2024, 4, 1);
    const entries = Array.from({ length: 90 }, (_, i) => ({
      content: `garden bed ${i} is by the ${i % 2 ? "north" : "south"} gate`,
      created_at: new Date(day + i * 86_400_000).toISOString(),
      context: { speaker: i % 3 ? "Bob" : "Alice" },
    }));
    expect((await d.api.importJsonl(entries)).status).toBe(201);
    const r = await d.api.post("/v1/recall", {
      query: "What did Alice say about the garden bed by the gate?",
      limit: 10,
      min_relevance: 0,
      explain: true,
    });
    expect(r.status).toBe(200);
    expect(r.body.results).toHaveLength(10);
    const steps = r.body.explain as {
      step: string;
      lists?: { name: string; hits: number }[];
      candidates?: number;
    }[];
    const search = steps.find((s) => s.step === "search");
    expect(search?.lists?.find((l) => l.name === "vector")?.hits).toBe(80);
    expect(search?.lists?.find((l) => l.name === "keyword")?.hits).toBe(40);
    expect(steps.find((s) => s.step === "rerank")?.candidates).toBe(50);
    // The speaker step, over those 50: Alice's turn first.
    const speakers = (r.body.results as { memory: { context: { speaker: string } } }[]).map(
      (h) => h.memory.context.speaker,
    );
    expect(speakers[0]).toBe("Alice");
  });
});
