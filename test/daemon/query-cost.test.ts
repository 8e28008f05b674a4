import { join } from "node:path";
import { SqliteMemoryStore } from "@tribalmemory/daemon/store/sqlite-store";
import { createWorkerEmbedder } from "@tribalmemory/shared/embed/worker-host";
import { newActorId } from "@tribalmemory/shared/memory/document";
import { MemoryService } from "@tribalmemory/shared/service/memory-service";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestDaemon, tempHome } from "../helpers/daemon.ts";

interface EmbeddingHealth {
  status: string;
  stats: {
    queries: number;
    query_model_calls: number;
    passage_model_calls: number;
    query_cache: { hits: number; misses: number; entries: number };
    worker: { requests: number; cold_requests: number; warmup_runs: number; keep_warm_runs: number } | null;
  };
}

/** The daemon's own cost around the query (issue 14, item 3), with the default offline model. */
describe("the query's own cost (the offline model, over HTTP)", () => {
  const home = tempHome("tm-query-cost-");
  let d: Awaited<ReturnType<typeof startTestDaemon>>;
  const embedding = async () => (await d.api.get("/v1/health")).body.embedding as EmbeddingHealth;
  beforeAll(async () => {
    d = await startTestDaemon(home.home, { embedding: "offline" });
  }, 120_000);
  afterAll(async () => {
    await d?.close();
    home.cleanup();
  });

  it("the first recall after startup finds the model's worker warm: no cold start is paid", async () => {
    const before = await embedding();
    expect(before.status).toBe("ready");
    expect(before.stats.worker?.warmup_runs).toBeGreaterThan(0);
    expect(before.stats.worker?.requests).toBe(0);
    const r = await d.api.post("/v1/recall", { query: "which database does billing use" });
    expect(r.status).toBe(200);
    expect(r.body.retrieval.lists).toContain("vector");
    const after = await embedding();
    expect(after.stats.worker).toMatchObject({ requests: 1, cold_requests: 0 });
    expect(after.stats.query_model_calls).toBe(1);
  });

  it("a repeated query is answered from the query cache: no second model call", async () => {
    const before = await embedding();
    const first = await d.api.post("/v1/recall", { query: "who owns the ledger api" });
    const again = await d.api.post("/v1/recall", { query: "who owns the ledger api" });
    expect(again.body.retrieval.lists).toEqual(first.body.retrieval.lists);
    const after = await embedding();
    expect(after.stats.query_model_calls - before.stats.query_model_calls).toBe(1);
    expect(after.stats.query_cache.hits - before.stats.query_cache.hits).toBe(1);
    expect((after.stats.worker?.requests ?? 0) - (before.stats.worker?.requests ?? 0)).toBe(1);
  });

  it("a 201 from remember means the memory and its vector are stored (the vector is written after the row)", async () => {
    const contents = [
      "Billing moved from MySQL to Postgres in March",
      "Priya is on call for ledger-api this week",
    ];
    const made = await Promise.all(contents.map((content) => d.api.post("/v1/remember", { content })));
    expect(made.map((m) => m.status)).toEqual([201, 201]);
    const stats = await d.api.get("/v1/stats");
    expect(stats.body.missing_embeddings).toBe(0);
    const r = await d.api.post("/v1/recall", {
      query: "which database does billing run on",
      min_relevance: 0,
    });
    const hit = (r.body.results as { memory: { content: string }; signals: { vector?: unknown } }[]).find(
      (h) => h.memory.content === contents[0],
    );
    expect(hit?.signals.vector).toBeDefined();
  });
});

describe("remember with the row written while the model runs", () => {
  it("tells sync of a remember only once its vector is stored too, so the push carries it", async () => {
    const home = tempHome("tm-rows-first-");
    const store = new SqliteMemoryStore({ path: join(home.home, "memories.db") });
    const model = await createWorkerEmbedder({
      moduleUrl: new URL("../../shared/src/embed/use-lite.ts", import.meta.url),
      options: {},
      warmupRuns: 1,
    });
    const missingAtNotify: number[] = [];
    const service: MemoryService = new MemoryService({
      store,
      actor: newActorId(),
      instanceId: "test",
      vectorsAfterRows: true,
      onWrite: () => void store.countMissingEmbeddings().then((n) => missingAtNotify.push(n)),
    });
    try {
      await service.setEmbedder({
        provider: model,
        calibration: { floor: 0.2, ceiling: 0.7, weight: 0.5 },
        dedupCosine: null,
      });
      const outcomes = await Promise.all(
        ["Deploys run on Tuesdays", "The cache is Redis 7", "Deploys run on Tuesdays"].map((content) =>
          service.remember({ content, source_type: "auto_capture" }),
        ),
      );
      expect(outcomes.map((o) => o.status)).toEqual(["created", "created", "duplicate"]);
      expect(await store.countMissingEmbeddings()).toBe(0);
      expect(missingAtNotify.length).toBeGreaterThan(0);
      expect(missingAtNotify.every((n) => n === 0)).toBe(true);
      expect(model.stats.requests).toBeGreaterThan(0);
    } finally {
      await store.close();
      await model.close();
      home.cleanup();
    }
  }, 60_000);
});
