import { newActorId } from "@tribalmemory/shared/memory/document";
import { MemoryService } from "@tribalmemory/shared/service/memory-service";
import { folderPerTest } from "@tribalmemory/shared/testing/temp-folder";
import Database from "better-sqlite3";
import { describe, expect, it, vi } from "vitest";
import { SqliteMemoryStore } from "./sqlite-store.ts";

/**
 * The entity list and the graph's co-occurrence counts join every link of the entities asked
 * for: at 1M memories with 3M links, 2 s for the list and 0.35 s for one entity's neighbours,
 * on the event loop. Both now run on the read worker; the neighbours check each memory in
 * `memories_live` (0.06 s).
 */
describe("the entity list and graph", () => {
  const inFolder = folderPerTest("tm-entities-");

  it("count live memories only, off the event loop", async () => {
    const store = new SqliteMemoryStore({ path: inFolder("memories.db") });
    try {
      const service = new MemoryService({ store, actor: newActorId(), instanceId: "t" });
      const say = (content: string) => service.remember({ content, source_type: "user_explicit" });
      await say("billing-service calls ledger-api for every invoice");
      await say("billing-service retries ledger-api twice before paging");
      const gone = await say("billing-service moved off payments-gateway in March");
      await say("ledger-api is owned by the platform team");
      await service.forget(gone.memory.id);

      const aside = vi.spyOn(
        (store as unknown as { reads: { rowsAside: () => unknown } }).reads,
        "rowsAside",
      );
      const listed = await store.listEntities({ limit: 10 });
      expect(listed).toContainEqual(expect.objectContaining({ name: "billing-service", memories: 2 }));
      expect(listed).toContainEqual(expect.objectContaining({ name: "ledger-api", memories: 3 }));
      expect(listed.map((e) => e.name)).not.toContain("payments-gateway");

      const edges = await store.entityNeighbours(["billing-service"], 5);
      expect(edges).toEqual([
        { source: "billing-service", target: "ledger-api", type: "co_occurs", weight: 2 },
      ]);
      expect(aside).toHaveBeenCalledTimes(2);
    } finally {
      await store.close();
    }
  });

  /** Each entity's live memories, counted from the links as the list did before its counts were kept. */
  const countedByHand = (store: SqliteMemoryStore) =>
    Object.fromEntries(
      (
        store.db
          .prepare(
            `SELECT e.name, count(*) AS n FROM entities e JOIN memory_entities me ON me.eid = e.eid
               JOIN memories m ON m.rid = me.rid AND m.deleted = 0 AND m.duplicate_of IS NULL GROUP BY e.eid`,
          )
          .all() as { name: string; n: number }[]
      ).map((r) => [r.name, r.n]),
    );
  const listedCounts = async (store: SqliteMemoryStore) =>
    Object.fromEntries((await store.listEntities({ limit: 100 })).map((e) => [e.name, e.memories]));

  it("keeps each entity's count through remember, forget, correct, duplicates and purge", async () => {
    const store = new SqliteMemoryStore({ path: inFolder("memories.db") });
    try {
      const service = new MemoryService({ store, actor: newActorId(), instanceId: "t" });
      const say = (content: string) => service.remember({ content, source_type: "user_explicit" });
      const a = await say("billing-service calls ledger-api for every invoice");
      await say("billing-service retries ledger-api twice before paging");
      const c = await say("billing-service moved off payments-gateway in March");
      await say("billing-service calls ledger-api for every invoice"); // a duplicate: no new links
      expect(await listedCounts(store)).toEqual({
        "billing-service": 3,
        "ledger-api": 2,
        "payments-gateway": 1,
      });
      await service.forget(c.memory.id);
      await service.correct({
        original_id: a.memory.id,
        corrected_content: "billing-service calls audit-log now",
      });
      expect(await listedCounts(store)).toEqual(countedByHand(store));
      expect(await listedCounts(store)).toMatchObject({ "billing-service": 3, "audit-log": 1 });
      expect(await listedCounts(store)).not.toHaveProperty("payments-gateway");
      await store.purge(a.memory.id);
      expect(await listedCounts(store)).toEqual(countedByHand(store));
      expect(await listedCounts(store)).toMatchObject({ "billing-service": 2, "ledger-api": 1 });
    } finally {
      await store.close();
    }
  });

  it("counts an older folder's links once, dropping those of memories hidden since", async () => {
    const path = inFolder("memories.db");
    const hidden: string[] = [];
    {
      const store = new SqliteMemoryStore({ path });
      const service = new MemoryService({ store, actor: newActorId(), instanceId: "t" });
      const say = (content: string) => service.remember({ content, source_type: "user_explicit" });
      await say("billing-service calls ledger-api for every invoice");
      await say("ledger-api is owned by the platform team");
      hidden.push((await say("payments-gateway fronts ledger-api")).memory.id);
      await service.forget(hidden[0]);
      await store.close();
    }
    {
      // The layout of a release before the counts, which also kept a forgotten memory's links.
      const db = new Database(path);
      db.exec(`DROP TRIGGER memory_entities_counted; DROP TRIGGER memory_entities_uncounted;
        ALTER TABLE entities DROP COLUMN memories;
        INSERT INTO memory_entities (eid, rid) SELECT e.eid, m.rid FROM entities e, memories m
          WHERE e.name = 'ledger-api' AND m.deleted = 1;`);
      db.close();
    }
    const store = new SqliteMemoryStore({ path });
    try {
      expect(await listedCounts(store)).toEqual({ "billing-service": 1, "ledger-api": 2 });
      expect(await listedCounts(store)).toEqual(countedByHand(store));
      const service = new MemoryService({ store, actor: newActorId(), instanceId: "t" });
      await service.remember({
        content: "ledger-api pages billing-service on errors",
        source_type: "user_explicit",
      });
      expect(await listedCounts(store)).toEqual({ "billing-service": 2, "ledger-api": 3 });
    } finally {
      await store.close();
    }
  });
});
