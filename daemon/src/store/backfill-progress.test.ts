import { createHashingProvider } from "@tribalmemory/shared/embed/hashing";
import type { EmbedKind } from "@tribalmemory/shared/embed/provider";
import { newActorId } from "@tribalmemory/shared/memory/document";
import { MemoryService } from "@tribalmemory/shared/service/memory-service";
import { describe, expect, it } from "vitest";
import { SqliteMemoryStore } from "./sqlite-store.ts";

/**
 * Issue 8 (13): `daemon status` showed `backfill 2005/503`. The backfill counted its total once
 * and kept embedding memories that arrived while it ran (an import, a sync batch), so `done`
 * ran past `total`. Progress must never report more done than there is to do.
 */
describe("embedding backfill progress", () => {
  it("never reports done above total while memories without vectors keep arriving", async () => {
    const store = new SqliteMemoryStore({ path: ":memory:" });
    try {
      // A writer without a model: its memories land without vectors, like an import or sync batch.
      const writer = new MemoryService({ store, actor: newActorId(), instanceId: "writer" });
      const say = (i: number) => ({
        content: `Fact number ${i} about service-${i} and its owner team-${i % 7}`,
        source_type: "import" as const,
      });
      await writer.rememberMany(Array.from({ length: 100 }, (_, i) => say(i)));

      const hashing = createHashingProvider(64);
      let arrivals = 0;
      const provider = {
        ...hashing,
        async embed(texts: string[], kind: EmbedKind) {
          // Each embedding batch, more memories arrive (until 300 have come in).
          if (arrivals < 300) {
            await writer.rememberMany(Array.from({ length: 100 }, (_, i) => say(1000 + arrivals + i)));
            arrivals += 100;
          }
          return hashing.embed(texts, kind);
        },
      };
      const service = new MemoryService({ store, actor: newActorId(), instanceId: "daemon" });
      await service.setEmbedder({
        provider,
        calibration: { floor: 0.1, ceiling: 0.9, weight: 0.3 },
        dedupCosine: null,
      });
      const seen: [number, number][] = [];
      service.onBackfillProgress = (done, total) => seen.push([done, total]);
      const embedded = await service.scheduleBackfill();

      expect(embedded).toBe(400);
      expect(await store.countMissingEmbeddings()).toBe(0);
      expect(seen.filter(([done, total]) => done > total)).toEqual([]);
      expect(seen.at(-1)).toEqual([400, 400]);
      expect(service.backfill).toMatchObject({ running: false, done: 400, total: 400 });
    } finally {
      await store.close();
    }
  });
});
