import { createHashingProvider } from "@tribalmemory/shared/embed/hashing";
import { cosineSimilarity } from "@tribalmemory/shared/embed/similarity";
import { newActorId } from "@tribalmemory/shared/memory/document";
import type { MemoryFilters } from "@tribalmemory/shared/memory/types";
import { MemoryService } from "@tribalmemory/shared/service/memory-service";
import { folderPerTest } from "@tribalmemory/shared/testing/temp-folder";
import { describe, expect, it } from "vitest";
import { buildFilters } from "./sqlite-filters.ts";
import { SqliteMemoryStore } from "./sqlite-store.ts";

const WORDS = [
  "ledger",
  "gateway",
  "invoice",
  "staging",
  "retry",
  "failover",
  "rollback",
  "cache",
  "queue",
  "schema",
];

/**
 * Vector search under a filter broader than its exact-scoring limit (3,000 rows) reads the
 * filter's rowids from their indexes, without each memory's visibility, and checks visibility on
 * the nearest only (sqlite-rid-lookup.ts): at 1M memories one writer of seven took 276 ms, now
 * 30 ms; one that most memories pass is searched as no filter. The answer must stay what
 * scoring every visible row of the filter gives.
 */
describe("vector search under a broad filter", () => {
  const inFolder = folderPerTest("tm-vector-filter-");

  it("returns the filter's nearest visible memories, as exact scoring does", async () => {
    const store = new SqliteMemoryStore({ path: inFolder("memories.db") });
    const provider = createHashingProvider(64);
    const service = new MemoryService({ store, actor: newActorId(), instanceId: "t" });
    await service.setEmbedder({
      provider,
      calibration: { floor: 0.1, ceiling: 0.9, weight: 0.3 },
      dedupCosine: null,
    });
    try {
      const contents: string[] = [];
      for (let batch = 0; batch < 40; batch++) {
        const bodies = Array.from({ length: 100 }, (_, j) => {
          const i = batch * 100 + j;
          const content = `Note ${i}: the ${WORDS[i % 10]} and ${WORDS[(i * 7) % 10]} of service-${i % 97} on host-${i % 13}`;
          contents.push(content);
          return {
            content,
            source_type: i % 8 === 0 ? ("import" as const) : ("user_explicit" as const),
            source_instance: i % 5 === 0 ? "agent-b" : "agent-a",
            tags: [i % 5 === 0 ? "small" : "big", ...(i % 2 ? ["odd"] : [])],
          };
        });
        await service.rememberMany(bodies);
      }
      const all = await store.list({ filters: { includeSuperseded: true }, limit: 5000, cursor: null });
      const idOf = new Map(all.memories.map((m) => [m.content, m.id]));
      // Hidden ones: forgotten, and superseded by a correction (which is itself agent-b's).
      const hidden = new Set<string>();
      for (let i = 1; i < 4000; i += 37) {
        const id = idOf.get(contents[i]) as string;
        await service.forget(id);
        hidden.add(id);
      }
      for (let i = 2; i < 4000; i += 211) {
        const id = idOf.get(contents[i]) as string;
        if (hidden.has(id)) continue;
        await service.correct({
          original_id: id,
          corrected_content: `Correction of note ${i}`,
          source_instance: "agent-b",
        });
        hidden.add(id);
      }
      const vectors = new Map<string, Float32Array>();
      const embedded = await provider.embed(contents, "passage");
      for (const [i, c] of contents.entries()) vectors.set(idOf.get(c) as string, embedded[i]);
      const memoryOf = new Map(all.memories.map((m) => [m.id, m]));

      const cases: [MemoryFilters, (id: string) => boolean][] = [
        [{ sourceInstance: "agent-a" }, (id) => memoryOf.get(id)?.source_instance === "agent-a"],
        [{ tags: ["big"] }, (id) => memoryOf.get(id)?.tags.includes("big") === true],
        [
          { tags: ["big", "odd"], sourceInstance: "agent-a" },
          (id) => memoryOf.get(id)?.source_instance === "agent-a",
        ],
        // A type most memories have (searched as no filter), and one few have (scored exactly).
        [{ sourceType: "user_explicit" }, (id) => memoryOf.get(id)?.source_type === "user_explicit"],
        [{ sourceType: "import" }, (id) => memoryOf.get(id)?.source_type === "import"],
      ];
      const queries = await provider.embed(
        ["ledger gateway host-3", "rollback of service-12", "cache queue schema", "invoice staging retry"],
        "query",
      );
      for (const [filters, admits] of cases) {
        for (const q of queries) {
          const hits = await store.vectorSearch(q, 20, filters);
          expect(hits).toHaveLength(20);
          for (const h of hits) {
            expect(hidden.has(h.id)).toBe(false);
            expect(admits(h.id)).toBe(true);
          }
          const exact = [...vectors.entries()]
            .filter(([id]) => admits(id) && !hidden.has(id))
            .map(([id, v]) => ({ id, score: cosineSimilarity(q, v) }))
            .sort((a, b) => b.score - a.score);
          // int8 scores can swap near-ties at the edge: the set agrees, and the best is the best.
          const want = new Set(exact.slice(0, 20).map((e) => e.id));
          const agree = hits.filter((h) => want.has(h.id)).length;
          expect(agree).toBeGreaterThanOrEqual(18);
          expect(exact[0].score - (exact.find((e) => e.id === hits[0].id)?.score ?? 0)).toBeLessThan(0.02);
        }
      }
    } finally {
      await store.close();
    }
  }, 60_000);

  // A filter on a type few memories have read every row: at 1M, a list 2.2 s from a cold page
  // cache, a vector search 0.3 s warm. The type's rowids now come from its own index.
  it("reads a source type's rowids from its index", () => {
    const store = new SqliteMemoryStore({ path: inFolder("memories.db") });
    try {
      const { narrow, params } = buildFilters({ sourceType: "user_explicit" });
      if (!narrow) throw new Error("a source type filter has an index to read");
      const plan = store.db.prepare(`EXPLAIN QUERY PLAN ${narrow}`).all(params) as { detail: string }[];
      expect(plan.map((p) => p.detail).join("; ")).toContain("COVERING INDEX memories_type");
    } finally {
      void store.close();
    }
  });
});
