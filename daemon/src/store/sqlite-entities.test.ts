import { newActorId } from "@tribalmemory/shared/memory/document";
import { MemoryService } from "@tribalmemory/shared/service/memory-service";
import { folderPerTest } from "@tribalmemory/shared/testing/temp-folder";
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
});
