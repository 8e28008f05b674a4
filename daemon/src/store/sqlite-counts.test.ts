import { createHashingProvider } from "@tribalmemory/shared/embed/hashing";
import { newActorId } from "@tribalmemory/shared/memory/document";
import { MemoryService } from "@tribalmemory/shared/service/memory-service";
import { folderPerTest } from "@tribalmemory/shared/testing/temp-folder";
import Database from "better-sqlite3";
import { describe, expect, it, vi } from "vitest";
import { SqliteMemoryStore } from "./sqlite-store.ts";

/**
 * Found at 1M memories: the first /v1/health after a start answered after 11 s (the live count
 * read every row of `memories` from a cold page cache), and a recall sent just after it waited
 * as long, queued behind the count on the read worker. The daemon's start then counted both
 * tables' rows on the event loop, and with any forgotten memory (no vector) ran the full join.
 */
describe("the store's counts", () => {
  const inFolder = folderPerTest("tm-counts-");

  const LIVE_COUNT = "SELECT count(*) AS n FROM memories WHERE deleted = 0 AND duplicate_of IS NULL";

  async function storeWithForgotten(path: string) {
    const store = new SqliteMemoryStore({ path });
    const service = new MemoryService({ store, actor: newActorId(), instanceId: "t" });
    await service.setEmbedder({
      provider: createHashingProvider(64),
      calibration: { floor: 0.1, ceiling: 0.9, weight: 0.3 },
      dedupCosine: null,
    });
    const made = await service.rememberMany(
      Array.from({ length: 40 }, (_, i) => ({
        content: `Fact ${i}: service-${i} is owned by team-${i % 5}`,
        source_type: i % 4 === 0 ? ("import" as const) : ("user_explicit" as const),
        source_instance: `agent-${i % 3}`,
        tags: [`team-${i % 5}`, ...(i < 7 ? ["soon-forgotten"] : [])],
      })),
    );
    for (const outcome of made.slice(0, 7)) await service.forget(outcome.memory.id);
    return { store, service };
  }

  it("counts live memories over their partial index, not every row", async () => {
    const path = inFolder("memories.db");
    const { store } = await storeWithForgotten(path);
    try {
      expect(await store.countLive()).toBe(33);
    } finally {
      await store.close();
    }
    const db = new Database(path, { readonly: true });
    try {
      const plan = db.prepare(`EXPLAIN QUERY PLAN ${LIVE_COUNT}`).all() as { detail: string }[];
      expect(plan.map((p) => p.detail).join(" | ")).toMatch(/USING (COVERING )?INDEX memories_live\b/);
      // …and lookups by id still go by id: an index on `deleted` was scanned for them instead.
      const byId = db
        .prepare(
          "EXPLAIN QUERY PLAN SELECT x.rid FROM memories x WHERE x.id IN (SELECT value FROM json_each(?)) AND x.deleted = 0 AND x.duplicate_of IS NULL",
        )
        .all('["a"]') as { detail: string }[];
      expect(byId.map((p) => p.detail).join(" | ")).not.toMatch(/memories_live/);
    } finally {
      db.close();
    }
  });

  it("builds the index when a folder written before it opens", async () => {
    const path = inFolder("memories.db");
    const { store } = await storeWithForgotten(path);
    await store.close();
    const db = new Database(path);
    db.exec("DROP INDEX memories_live");
    db.close();
    const reopened = new SqliteMemoryStore({ path });
    try {
      const names = reopened.db.prepare("SELECT name FROM sqlite_master WHERE type = 'index'").pluck().all();
      expect(names).toContain("memories_live");
      expect(await reopened.countLive()).toBe(33);
    } finally {
      await reopened.close();
    }
  });

  it("finds no vector missing in a store with forgotten memories without joining every row", async () => {
    const { store } = await storeWithForgotten(inFolder("memories.db"));
    try {
      const reads = vi.spyOn(
        (store as unknown as { reads: { rows: (sql: string) => unknown } }).reads,
        "rows",
      );
      expect(await store.countMissingEmbeddings()).toBe(0);
      expect(reads.mock.calls.map(([sql]) => sql).filter((sql) => sql.includes("JOIN"))).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it("still counts the memories that do lack a vector", async () => {
    const path = inFolder("memories.db");
    const { store, service } = await storeWithForgotten(path);
    try {
      // Written without a model (an import, a sync batch before the model loaded): no vectors.
      const plain = new MemoryService({ store, actor: newActorId(), instanceId: "plain" });
      await plain.rememberMany(
        Array.from({ length: 5 }, (_, i) => ({
          content: `Unembedded note ${i}`,
          source_type: "import" as const,
        })),
      );
      expect(await store.countMissingEmbeddings()).toBe(5);
      await service.scheduleBackfill();
      expect(await store.countMissingEmbeddings()).toBe(0);
    } finally {
      await store.close();
    }
  });

  it("gives the figures of live memories from the read worker, and counts them again only after a write", async () => {
    const { store, service } = await storeWithForgotten(inFolder("memories.db"));
    try {
      const reads = vi.spyOn(
        (store as unknown as { reads: { rows: (sql: string) => unknown } }).reads,
        "rows",
      );
      const stats = await store.stats();
      // Memories 0-6 are forgotten: i = 0 and 4 of them were imports, and they alone had the tag.
      expect(stats).toMatchObject({ total_memories: 33, deleted: 7, superseded: 0, embedded: 33 });
      const expected = { import: 0, user_explicit: 0 } as Record<string, number>;
      const instances: Record<string, number> = {};
      const tags: Record<string, number> = {};
      for (let i = 7; i < 40; i++) {
        expected[i % 4 === 0 ? "import" : "user_explicit"]++;
        instances[`agent-${i % 3}`] = (instances[`agent-${i % 3}`] ?? 0) + 1;
        tags[`team-${i % 5}`] = (tags[`team-${i % 5}`] ?? 0) + 1;
      }
      expect(stats.by_source_type).toEqual(expected);
      expect(stats.by_source_instance).toEqual(instances);
      expect(stats.by_tag).toEqual(tags);
      expect(stats.storage_bytes).toBeGreaterThan(0);
      const queries = reads.mock.calls.length;
      expect(queries).toBeGreaterThanOrEqual(7);

      expect(await store.stats()).toEqual(stats);
      expect(reads.mock.calls.length).toBe(queries);
      await service.remember({ content: "One more fact", source_type: "user_explicit", tags: ["team-0"] });
      const after = await store.stats();
      expect(after.total_memories).toBe(34);
      expect(after.by_tag["team-0"]).toBe(tags["team-0"] + 1);
      expect(reads.mock.calls.length).toBeGreaterThan(queries);
    } finally {
      await store.close();
    }
  });

  it("counts the figures on another worker than keyword search's where a large store has two", async () => {
    const path = inFolder("memories.db");
    const { store: first } = await storeWithForgotten(path);
    await first.close();
    // A store past the split size starts a second read worker (sqlite-read-router.ts).
    const store = new SqliteMemoryStore({ path, keywordSplit: { splitFrom: 1, parts: 2 } });
    try {
      const readers = (store as unknown as { reads: { readers: { all: (sql: string) => unknown }[] } }).reads
        .readers;
      expect(readers).toHaveLength(2);
      const [keywordWorker, aside] = readers.map((r) => vi.spyOn(r, "all"));
      expect((await store.stats()).total_memories).toBe(33);
      expect(aside.mock.calls.length).toBeGreaterThanOrEqual(7);
      expect(keywordWorker).not.toHaveBeenCalled();
    } finally {
      await store.close();
    }
  });
});
