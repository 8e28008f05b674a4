import { join } from "node:path";
import { SqliteMemoryStore } from "@tribalmemory/daemon/store/sqlite-store";
import { describe, expect, it } from "vitest";
import { apiClient, spawnDaemon, startTestDaemon, tempHome } from "../helpers/daemon.ts";

describe("faults", () => {
  // A second daemon on the same folder: test/daemon/lock.test.ts.

  it("leaves a consistent store after SIGKILL during batch remembers, and restarts", async () => {
    const h = tempHome();
    const d = await spawnDaemon(h.home);
    const api = apiClient(d.url);
    const batch = (n: number) => ({
      memories: Array.from({ length: 100 }, (_, i) => ({
        content: `crash batch ${n} item ${i} about widgets ${n * 1000 + i}`,
        tags: [`b${n}`],
      })),
    });
    // Fire batches back to back and kill the daemon while they are in flight.
    const inflight: Promise<unknown>[] = [];
    let acknowledged = 0;
    for (let n = 0; n < 40; n++) {
      inflight.push(
        api.post("/v1/remember/batch", batch(n)).then(
          (r) => {
            if (r.status === 201) acknowledged += 100;
          },
          () => undefined,
        ),
      );
      if (n === 8) await new Promise((r) => setTimeout(r, 30));
    }
    await new Promise((r) => setTimeout(r, 120));
    d.child.kill("SIGKILL");
    await new Promise((r) => d.child.once("exit", r));
    await Promise.allSettled(inflight);

    const store = new SqliteMemoryStore({ path: join(h.home, "data", "memories.db") });
    const report = store.consistencyReport();
    const embedded = (await store.stats()).embedded;
    const outbox = (store.db.prepare("SELECT count(*) AS n FROM outbox").get() as { n: number }).n;
    await store.close();
    // Whole batches or nothing: every memory has its document, change, FTS row and vector.
    expect(report.memories % 100).toBe(0);
    expect(report.memories).toBeLessThan(4000); // killed mid-stream, not after it
    expect(report.memories).toBeGreaterThanOrEqual(acknowledged);
    expect(report.withoutDoc).toBe(0);
    expect(report.withoutChange).toBe(0);
    expect(report.ftsRows).toBe(report.visible);
    expect(embedded).toBe(report.visible);
    expect(outbox).toBe(report.memories);

    const again = await spawnDaemon(h.home);
    try {
      const api2 = apiClient(again.url);
      expect((await api2.get("/v1/stats")).body.total_memories).toBe(report.memories);
      expect((await api2.post("/v1/remember", { content: "after the crash" })).status).toBe(201);
    } finally {
      again.child.kill("SIGTERM");
      await new Promise((r) => again.child.once("exit", r));
      h.cleanup();
    }
  });

  it("works with no model, then backfills vectors once one loads", async () => {
    const h = tempHome();
    const d = await startTestDaemon(h.home, { embedding: "none" });
    for (let i = 0; i < 70; i++)
      await d.api.post("/v1/remember", { content: `offline note ${i} on the gateway timeout` });
    const r = await d.api.post("/v1/recall", { query: "gateway timeout" });
    expect(r.body.results.length).toBe(5);
    expect(r.body.retrieval.lists).toEqual(["keyword"]);
    expect((await d.api.get("/v1/health")).body.embedding.status).toBe("none");
    await d.close();
    const d2 = await startTestDaemon(h.home, { embedding: "hashing" });
    try {
      expect(d2.embedder.backfill).toEqual({ done: 70, total: 70 });
      const s = (await d2.api.get("/v1/stats")).body;
      expect(s).toMatchObject({ embedded: 70, missing_embeddings: 0 });
      expect((await d2.api.post("/v1/recall", { query: "gateway timeout" })).body.retrieval.lists).toEqual([
        "keyword",
        "vector",
      ]);
    } finally {
      await d2.close();
      h.cleanup();
    }
  });
});
