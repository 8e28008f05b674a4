import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createHashingProvider } from "../embed/hashing.ts";
import type { TribalError } from "../errors.ts";
import { contentHash, dedupKey } from "../memory/content.ts";
import { newActorId } from "../memory/document.ts";
import type { RecallBody, RememberBody } from "../memory/schemas.ts";
import { sweepExpired } from "../service/expiry-sweep.ts";
import { MemoryService } from "../service/memory-service.ts";
import type { MemoryStore } from "../store/memory-store.ts";
import { sampleMemory } from "./sample-memory.ts";
import { storedVectorsConformance } from "./stored-vectors-conformance.ts";

export interface StoreFixture {
  store: MemoryStore;
  cleanup: () => Promise<void>;
}

const recallBody = (query: string, extra: Partial<RecallBody> = {}): RecallBody => ({
  query,
  limit: 10,
  min_relevance: 0,
  include_superseded: false,
  sources: "memories",
  ...extra,
});

/** Every method of `MemoryStore`, each under at least one test below (the file's report). */
export const MEMORY_STORE_METHODS = [
  "write",
  "get",
  "getMany",
  "getDoc",
  "findByDedupKey",
  "supersededAmong",
  "supersedersOf",
  "list",
  "vectorSearch",
  "keywordSearch",
  "stats",
  "countLive",
  "entitySearch",
  "listEntities",
  "resolveEntities",
  "entityNeighbours",
  "embeddingModel",
  "setEmbeddingModel",
  "putEmbeddings",
  "storedVectors",
  "missingEmbeddings",
  "countMissingEmbeddings",
  "termFrequencies",
  "purge",
  "close",
] as const satisfies readonly (keyof MemoryStore)[];

/**
 * The behaviour every MemoryStore must have (SQLite in the daemon, Postgres and PGlite in the
 * relay), the automerge-repo pattern: register it from each adapter's test file with a factory
 * for a fresh, empty store. Rules both stores share (entity scoring, cursors, term counts) are
 * asserted to the value, so the two dialects cannot drift apart again.
 */
export function memoryStoreConformance(name: string, makeStore: () => Promise<StoreFixture>): void {
  describe(`MemoryStore conformance: ${name}`, () => {
    let fx: StoreFixture;
    let svc: MemoryService;
    const embedder = createHashingProvider(64);

    beforeEach(async () => {
      fx = await makeStore();
      svc = new MemoryService({ store: fx.store, actor: newActorId(), instanceId: "conformance" });
      await svc.setEmbedder({
        provider: embedder,
        calibration: { floor: 0, ceiling: 1, weight: 1 },
        dedupCosine: 0.99,
      });
    });
    afterEach(async () => {
      await fx.cleanup();
    });

    it("stores a memory with its document and reads it back", async () => {
      const r = await svc.remember({
        content: "  The deploy key lives in vault  ",
        source_type: "user_explicit",
        tags: ["ops", "ops", "vault"],
        context: { file: "a.ts" },
      });
      expect(r.status).toBe("created");
      const got = await fx.store.get(r.memory.id);
      expect(got).toMatchObject({
        content: "The deploy key lives in vault",
        tags: ["ops", "vault"],
        context: { file: "a.ts" },
        deleted: false,
      });
      expect(await fx.store.getDoc(r.memory.id)).toBeInstanceOf(Uint8Array);
      expect(await fx.store.get("00000000-0000-4000-8000-000000000000")).toBeNull();
    });

    it("returns getMany in the order asked and skips unknown ids", async () => {
      const a = await svc.remember({ content: "alpha fact", source_type: "user_explicit" });
      const b = await svc.remember({ content: "beta fact", source_type: "user_explicit" });
      const got = await fx.store.getMany([b.memory.id, "00000000-0000-4000-8000-000000000000", a.memory.id]);
      expect(got.map((m) => m.id)).toEqual([b.memory.id, a.memory.id]);
    });

    it("finds exact duplicates by normalised content and merges tags", async () => {
      const a = await svc.remember({
        content: "Use pnpm, not npm.",
        source_type: "user_explicit",
        tags: ["x"],
      });
      const b = await svc.remember({
        content: "use   PNPM, not npm",
        source_type: "user_explicit",
        tags: ["y"],
      });
      expect(b).toMatchObject({ status: "duplicate", duplicateOf: a.memory.id });
      expect((await fx.store.get(a.memory.id))?.tags).toEqual(["x", "y"]);
      await svc.forget(a.memory.id);
      const c = await svc.remember({ content: "use pnpm, not npm", source_type: "user_explicit" });
      expect(c.status).toBe("created");
    });

    it("keyword search ORs the terms instead of matching one phrase", async () => {
      const a = await svc.remember({
        content: "Postgres runs the billing service",
        source_type: "user_explicit",
      });
      await svc.remember({ content: "Redis caches sessions", source_type: "user_explicit" });
      const hits = await fx.store.keywordSearch(["which", "database", "billing"], 10, {});
      expect(hits.map((h) => h.id)).toEqual([a.memory.id]);
      const both = await fx.store.keywordSearch(["postgres", "redis"], 10, {});
      expect(both).toHaveLength(2);
    });

    it("vector search ranks the nearest memory first", async () => {
      const a = await svc.remember({
        content: "kubernetes cluster upgrade window friday",
        source_type: "user_explicit",
      });
      await svc.remember({ content: "alice likes green tea", source_type: "user_explicit" });
      const [q] = await embedder.embed(["kubernetes upgrade friday"], "query");
      const hits = await fx.store.vectorSearch(q, 2, {});
      expect(hits[0].id).toBe(a.memory.id);
      expect(hits[0].score).toBeGreaterThan(hits[1]?.score ?? -1);
      expect(hits[0].score).toBeLessThanOrEqual(1.0001);
    });

    it("fills k from past many superseded memories that rank first", async () => {
      const bodies = Array.from({ length: 60 }, (_, i) => ({ content: `deploy window note ${i}` }));
      const ids = (await svc.rememberMany(bodies.map((b) => ({ ...b, source_type: "user_explicit" })))).map(
        (r) => r.memory.id,
      );
      // Superseded memories stay in both indexes; only the visibility rules hide them.
      const hidden = new Set(ids.filter((_, i) => i % 6 !== 0)); // 50 of 60
      for (const id of hidden)
        await svc.correct({ original_id: id, corrected_content: `obsolete entry ${id}` });
      const keyword = await fx.store.keywordSearch(["deploy", "window"], 5, {});
      const [q] = await embedder.embed(["deploy window note"], "query");
      const vector = await fx.store.vectorSearch(q, 5, {});
      for (const hits of [keyword, vector]) {
        expect(hits).toHaveLength(5);
        for (const h of hits) expect(hidden.has(h.id)).toBe(false);
      }
    });

    it("hides superseded memories from every search, even alone in a result list", async () => {
      const old = await svc.remember({
        content: "The staging database is MySQL",
        source_type: "user_explicit",
      });
      const fix = await svc.correct({
        original_id: old.memory.id,
        corrected_content: "The staging datastore moved to CockroachDB",
      });
      // The keyword list alone would only contain the old memory (shared word "MySQL").
      expect((await fx.store.keywordSearch(["mysql"], 10, {})).map((h) => h.id)).toEqual([]);
      const [q] = await embedder.embed(["staging database mysql"], "query");
      expect((await fx.store.vectorSearch(q, 10, {})).map((h) => h.id)).not.toContain(old.memory.id);
      expect(
        (await fx.store.keywordSearch(["mysql"], 10, { includeSuperseded: true })).map((h) => h.id),
      ).toEqual([old.memory.id]);
      const recall = await svc.recall(recallBody("staging mysql"));
      expect(recall.results.map((r) => r.memory.id)).toEqual([fix.memory.id]);
      expect(await fx.store.supersededAmong([old.memory.id, fix.memory.id])).toEqual(
        new Set([old.memory.id]),
      );
    });

    it("names the live corrections of a memory, newest first, and none once forgotten", async () => {
      const old = await svc.remember({ content: "The cache is Redis 6", source_type: "user_explicit" });
      const first = await svc.correct({
        original_id: old.memory.id,
        corrected_content: "The cache is Redis 7",
      });
      await new Promise((r) => setTimeout(r, 5));
      const second = await svc.correct({
        original_id: old.memory.id,
        corrected_content: "The cache is Valkey 8",
      });
      expect(await fx.store.supersedersOf(old.memory.id)).toEqual([second.memory.id, first.memory.id]);
      expect(await fx.store.supersedersOf(second.memory.id)).toEqual([]);
      await svc.forget(second.memory.id);
      expect(await fx.store.supersedersOf(old.memory.id)).toEqual([first.memory.id]);
    });

    it("hides forgotten memories and keeps them out of list unless asked", async () => {
      const a = await svc.remember({
        content: "temporary secret rotation note",
        source_type: "user_explicit",
      });
      await svc.forget(a.memory.id);
      expect(await fx.store.keywordSearch(["rotation"], 10, {})).toEqual([]);
      expect((await fx.store.list({ filters: {}, limit: 10, cursor: null })).memories).toEqual([]);
      const all = await fx.store.list({ filters: { includeDeleted: true }, limit: 10, cursor: null });
      expect(all.memories.map((m) => [m.id, m.deleted])).toEqual([[a.memory.id, true]]);
    });

    it("filters by tags, source and time in searches and lists", async () => {
      const a = await svc.remember({
        content: "deploy friday alpha",
        source_type: "user_explicit",
        tags: ["ops"],
        source_instance: "codex@a",
      });
      const b = await svc.remember({
        content: "deploy friday beta",
        source_type: "auto_capture",
        tags: ["dev"],
        source_instance: "claude@b",
      });
      const ids = async (f: Parameters<MemoryStore["keywordSearch"]>[2]) =>
        (await fx.store.keywordSearch(["deploy"], 10, f)).map((h) => h.id);
      expect(await ids({ tags: ["ops"] })).toEqual([a.memory.id]);
      expect(await ids({ tags: ["ops", "dev"] })).toHaveLength(2);
      expect(await ids({ sourceInstance: "claude@b" })).toEqual([b.memory.id]);
      expect(await ids({ sourceType: "user_explicit" })).toEqual([a.memory.id]);
      expect(await ids({ after: Date.now() + 60_000 })).toEqual([]);
      expect(await ids({ before: Date.now() + 60_000 })).toHaveLength(2);
      const [q] = await embedder.embed(["deploy friday"], "query");
      expect((await fx.store.vectorSearch(q, 10, { tags: ["dev"] })).map((h) => h.id)).toEqual([b.memory.id]);
      const listed = await fx.store.list({ filters: { sourceInstance: "codex@a" }, limit: 10, cursor: null });
      expect(listed.memories.map((m) => m.id)).toEqual([a.memory.id]);
    });

    it("pages through a list with a cursor, each memory exactly once, newest first", async () => {
      const created: string[] = [];
      for (let i = 0; i < 23; i++)
        created.push(
          (await svc.remember({ content: `fact number ${i}`, source_type: "user_explicit" })).memory.id,
        );
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const page = await fx.store.list({ filters: {}, limit: 5, cursor });
        seen.push(...page.memories.map((m) => m.id));
        cursor = page.nextCursor;
      } while (cursor);
      expect(seen).toHaveLength(23);
      expect(new Set(seen)).toEqual(new Set(created));
      expect(seen[0]).toBe(created[22]);
    });

    it("tracks vectors per model: switching drops them, backfill restores them", async () => {
      await svc.remember({ content: "one", source_type: "user_explicit" });
      await svc.remember({ content: "two", source_type: "user_explicit" });
      expect(await fx.store.countMissingEmbeddings()).toBe(0);
      const other = createHashingProvider(32);
      await svc.setEmbedder({
        provider: other,
        calibration: { floor: 0, ceiling: 1, weight: 1 },
        dedupCosine: null,
      });
      expect(await fx.store.embeddingModel()).toEqual({ modelId: other.modelId, dims: 32 });
      expect(await fx.store.countMissingEmbeddings()).toBe(2);
      const progress: number[] = [];
      expect(await svc.backfillEmbeddings((d) => progress.push(d), 1)).toBe(2);
      expect(progress).toEqual([1, 2]);
      expect(await fx.store.countMissingEmbeddings()).toBe(0);
      expect((await fx.store.stats()).embedded).toBe(2);
    });

    storedVectorsConformance(() => ({ store: fx.store, service: svc, embedder }));

    it("writes a batch atomically: a failing write stores none of it", async () => {
      const before = (await fx.store.stats()).total_memories;
      await expect(
        svc.insertExact([
          { memory: sample("00000000-0000-4000-8000-000000000001", "good one"), vector: null },
          {
            memory: sample("00000000-0000-4000-8000-000000000002", "bad vector"),
            vector: new Float32Array(3),
          },
        ]),
      ).rejects.toThrow();
      expect((await fx.store.stats()).total_memories).toBe(before);
      expect(await fx.store.get("00000000-0000-4000-8000-000000000001")).toBeNull();
    });

    it("finds the live memory by its dedup key, not a forgotten one", async () => {
      const a = await svc.remember({ content: "Deploys go out on Tuesdays", source_type: "user_explicit" });
      expect((await fx.store.findByDedupKey(dedupKey("deploys go out on tuesdays!")))?.id).toBe(a.memory.id);
      await svc.forget(a.memory.id);
      expect(await fx.store.findByDedupKey(dedupKey("Deploys go out on Tuesdays"))).toBeNull();
      expect(await fx.store.findByDedupKey(dedupKey("never written"))).toBeNull();
    });

    it("counts live memories as stats does", async () => {
      expect(await fx.store.countLive()).toBe(0);
      await svc.remember({ content: "first live fact", source_type: "user_explicit" });
      const b = await svc.remember({ content: "second fact, to forget", source_type: "user_explicit" });
      await svc.forget(b.memory.id);
      expect(await fx.store.countLive()).toBe(1);
      expect((await fx.store.stats()).total_memories).toBe(1);
    });

    describe("entity index", () => {
      const ids: Record<string, string> = {};
      beforeEach(async () => {
        const remember = async (label: string, content: string) => {
          ids[label] = (await svc.remember({ content, source_type: "user_explicit" })).memory.id;
        };
        await remember("owner", "Priya Shah owns the billing-service and its pager rotation.");
        await remember("pkg", "The billing-service depends on @acme/http-client for retries.");
        await remember("date", "On 2024-03-01 we moved the ledger to Postgres.");
        await remember("other", "Lunch on the roof is nice in summer.");
      });

      it("scores entity matches by the shared idf rule, newer memory first on a tie", async () => {
        // One name: every memory naming it scores 1; the tie goes to the newer memory.
        const byName = await fx.store.entitySearch(["billing-service"], 10, {});
        expect(byName).toEqual([
          { id: ids.pkg, score: 1, matched: ["billing-service"] },
          { id: ids.owner, score: 1, matched: ["billing-service"] },
        ]);
        // Two names, N = 4 rows: billing-service (df 2) weighs ln 3, "priya" an alias (df 1) ln 5 / 2.
        const both = await fx.store.entitySearch(["billing-service", "priya"], 10, {});
        expect(both.map((h) => [h.id, h.matched])).toEqual([
          [ids.owner, ["billing-service", "priya"]],
          [ids.pkg, ["billing-service"]],
        ]);
        expect(both[0].score).toBeCloseTo(1, 9);
        expect(both[1].score).toBeCloseTo(Math.log(3) / (Math.log(3) + Math.log(5) / 2), 9);
        expect((await fx.store.entitySearch(["billing-service"], 1, {})).map((h) => h.id)).toEqual([ids.pkg]);
        expect(await fx.store.entitySearch(["nobody"], 10, {})).toEqual([]);
        expect(await fx.store.entitySearch([], 10, {})).toEqual([]);
        await svc.forget(ids.pkg);
        expect((await fx.store.entitySearch(["billing-service"], 10, {})).map((h) => h.id)).toEqual([
          ids.owner,
        ]);
        expect(
          (await fx.store.entitySearch(["billing-service"], 10, { sourceInstance: "elsewhere" })).map(
            (h) => h.id,
          ),
        ).toEqual([]);
      });

      it("leaves out, for recall, a name too common in the filtered scope (a chat's speaker)", async () => {
        const chat: string[] = [];
        const topics = ["hiking", "painting", "a new job", "the dog", "a concert", "baking", "her sister"];
        for (const [i, topic] of [...topics, ...topics].entries()) {
          const m = await svc.remember({
            content: `Caroline: turn ${i}, I told Melanie about ${topic}.`,
            source_type: "user_explicit",
            tags: ["chat"],
          });
          chat.push(m.memory.id);
        }
        const trip = await svc.remember({
          content: "Caroline: we flew to Oslo for the winter market.",
          source_type: "user_explicit",
          tags: ["chat"],
        });
        const names = ["melanie", "oslo"];
        // 14 of the chat's 15 memories name Melanie (her friend's side of the chat): ranking by
        // her tells them apart no better than a common word. Only Oslo counts; without
        // dropCommon both do.
        const recall = await fx.store.entitySearch(names, 20, { tags: ["chat"] }, { dropCommon: true });
        expect(recall).toEqual([{ id: trip.memory.id, score: 1, matched: ["oslo"] }]);
        const all = await fx.store.entitySearch(names, 20, { tags: ["chat"] });
        expect(all.map((h) => h.id).sort()).toEqual([...chat, trip.memory.id].sort());
      });

      it("lists, resolves and links entities, and filters lists by entity and event date", async () => {
        const listed = await fx.store.listEntities({ limit: 10 });
        expect(listed[0]).toEqual({ name: "billing-service", type: "service", memories: 2 });
        expect((await fx.store.listEntities({ limit: 10, prefix: "pri" })).map((e) => e.name)).toEqual([
          "priya shah",
        ]);
        expect((await fx.store.listEntities({ limit: 10, type: "person" })).map((e) => e.name)).toEqual([
          "priya shah",
        ]);
        expect(await fx.store.listEntities({ limit: 1 })).toHaveLength(1);
        expect(await fx.store.resolveEntities(["priya"])).toEqual([{ name: "priya shah", type: "person" }]);
        expect((await fx.store.resolveEntities(["priya", "billing-service"])).map((e) => e.name)).toEqual([
          "billing-service",
          "priya shah",
        ]);
        expect(await fx.store.resolveEntities(["nobody"])).toEqual([]);
        const edges = await fx.store.entityNeighbours(["billing-service", "billing-service"], 10);
        expect(edges).toEqual([
          { source: "billing-service", target: "@acme/http-client", type: "co_occurs", weight: 1 },
          { source: "billing-service", target: "priya shah", type: "co_occurs", weight: 1 },
        ]);
        expect(await fx.store.entityNeighbours(["billing-service"], 1)).toHaveLength(1);
        expect(await fx.store.entityNeighbours(["billing-service"], 0)).toEqual([]);
        const page = await fx.store.list({ filters: { entityNames: ["priya"] }, limit: 10, cursor: null });
        expect(page.memories.map((m) => m.id)).toEqual([ids.owner]);
        const march = { after: Date.UTC(2024, 2, 1), before: Date.UTC(2024, 2, 2) };
        const dated = await fx.store.list({
          filters: { ...march, matchEventDates: true },
          limit: 10,
          cursor: null,
        });
        expect(dated.memories.map((m) => m.id)).toEqual([ids.date]);
        expect((await fx.store.list({ filters: march, limit: 10, cursor: null })).memories).toEqual([]);
      });

      it("counts term frequencies over visible memories, N over every row", async () => {
        await svc.forget(ids.other);
        // docs: the 4 rows (one forgotten); df: only what is still visible.
        expect(await fx.store.termFrequencies(["billing", "roof", "zebra"])).toEqual({
          docs: 4,
          df: [2, 0, 0],
        });
      });

      it("purges a memory with its document, vector and entity links, and says when it held none", async () => {
        const before = await fx.store.stats();
        expect(await fx.store.purge(ids.owner)).toBe(true);
        expect(await fx.store.get(ids.owner)).toBeNull();
        expect(await fx.store.getDoc(ids.owner)).toBeNull();
        expect(await fx.store.entitySearch(["priya"], 10, {})).toEqual([]);
        expect(await fx.store.resolveEntities(["priya shah", "priya"])).toEqual([]);
        expect((await fx.store.entitySearch(["billing-service"], 10, {})).map((h) => h.id)).toEqual([
          ids.pkg,
        ]);
        const [q] = await embedder.embed(["Priya Shah owns the billing-service"], "query");
        expect((await fx.store.vectorSearch(q, 10, {})).map((h) => h.id)).not.toContain(ids.owner);
        const after = await fx.store.stats();
        expect(after.total_memories).toBe(before.total_memories - 1);
        expect(after.embedded).toBe(before.embedded - 1);
        expect(await fx.store.purge(ids.owner)).toBe(false);
        expect(await fx.store.purge("00000000-0000-4000-8000-00000000dead")).toBe(false);
      });
    });

    it("walks memories missing a vector in id order after a cursor", async () => {
      const made: { id: string; content: string }[] = [];
      for (const content of ["one fact", "two facts", "three facts"])
        made.push({ id: (await svc.remember({ content, source_type: "user_explicit" })).memory.id, content });
      await fx.store.setEmbeddingModel("other-model", 8);
      expect(await fx.store.embeddingModel()).toEqual({ modelId: "other-model", dims: 8 });
      const sorted = [...made].sort((a, b) => (a.id < b.id ? -1 : 1));
      const expected = sorted.map((m) => ({
        id: m.id,
        content: m.content,
        contentHash: contentHash(m.content),
      }));
      expect(await fx.store.missingEmbeddings(10)).toEqual(expected);
      expect(await fx.store.missingEmbeddings(1)).toEqual(expected.slice(0, 1));
      expect(await fx.store.missingEmbeddings(10, sorted[0].id)).toEqual(expected.slice(1));
      await fx.store.putEmbeddings([
        {
          id: sorted[1].id,
          embedding: {
            modelId: "other-model",
            contentHash: contentHash(sorted[1].content),
            vector: new Float32Array(8).fill(0.5),
          },
        },
      ]);
      expect(await fx.store.countMissingEmbeddings()).toBe(2);
      expect((await fx.store.missingEmbeddings(10)).map((m) => m.id)).toEqual([sorted[0].id, sorted[2].id]);
    });

    it("hides expired memories from every read and sweeps them as ordinary deletions, a bounded batch at a time", async () => {
      const t0 = Date.now();
      let clock = t0;
      const timed = new MemoryService({
        store: fx.store,
        actor: newActorId(),
        instanceId: "c",
        now: () => new Date(clock),
      });
      const soon = await timed.remember({
        content: "the staging password rotates hourly",
        source_type: "user_explicit",
        ttl: "60s",
      });
      const later = await timed.remember({
        content: "the staging cluster is rebuilt weekly",
        source_type: "user_explicit",
        expires_at: new Date(t0 + 120_000).toISOString(),
      });
      // The same fact again without an expiry is a duplicate that makes the memory permanent.
      const brief = await timed.remember({
        content: "the staging cache is warm",
        source_type: "user_explicit",
        ttl: 60,
      });
      const renewed = await timed.remember({
        content: "the staging cache is warm",
        source_type: "user_explicit",
      });
      expect(renewed).toMatchObject({ status: "duplicate", duplicateOf: brief.memory.id });
      expect((await fx.store.get(brief.memory.id))?.expires_at).toBeUndefined();
      const kept = await timed.remember({
        content: "the staging region is eu-west",
        source_type: "user_explicit",
      });
      expect(soon.memory.expires_at).toBe(new Date(t0 + 60_000).toISOString());
      expect((await fx.store.get(soon.memory.id))?.expires_at).toBe(soon.memory.expires_at);
      expect(kept.memory.expires_at).toBeUndefined();
      const recalled = async () =>
        (await timed.recall(recallBody("staging"))).results.map((r) => r.memory.id).sort();
      expect(await recalled()).toEqual(
        [soon.memory.id, later.memory.id, kept.memory.id, brief.memory.id].sort(),
      );

      clock = t0 + 90_000;
      expect(await recalled()).toEqual([later.memory.id, kept.memory.id, brief.memory.id].sort());
      await expect(timed.get(soon.memory.id)).rejects.toMatchObject({ code: "MEMORY_NOT_FOUND" });
      expect((await timed.list({ limit: 10 })).memories.map((m) => m.id)).not.toContain(soon.memory.id);
      const listed = await timed.list({ limit: 10, include_expired: true });
      expect(listed.memories.map((m) => m.id)).toContain(soon.memory.id);
      expect(await fx.store.keywordSearch(["password"], 10, { activeAt: clock })).toEqual([]);
      // Same content again after expiry is a new memory, not a duplicate of the hidden one.
      const again = await timed.remember({
        content: "the staging password rotates hourly",
        source_type: "user_explicit",
      });
      expect(again.status).toBe("created");

      expect(await sweepExpired(timed, { nowMs: clock, limit: 1 })).toBe(1);
      expect((await fx.store.get(soon.memory.id))?.deleted).toBe(true);
      expect(await sweepExpired(timed, { nowMs: clock })).toBe(0);
      clock = t0 + 121_000;
      expect(await sweepExpired(timed, { nowMs: clock })).toBe(1);
      expect((await fx.store.get(later.memory.id))?.deleted).toBe(true);
      expect((await fx.store.get(kept.memory.id))?.deleted).toBe(false);
    });

    it("refuses an expiry in the past, ttl with expires_at, and an unreadable ttl with VALIDATION_FAILED", async () => {
      const refused = (body: Partial<RememberBody>) =>
        svc.remember({ content: "short-lived", source_type: "user_explicit", ...body }).then(
          () => null,
          (e: TribalError) => ({
            code: e.code,
            path: (e.details as { issues: { path: string }[] }).issues[0].path,
          }),
        );
      expect(await refused({ expires_at: new Date(Date.now() - 1000).toISOString() })).toEqual({
        code: "VALIDATION_FAILED",
        path: "expires_at",
      });
      expect(await refused({ expires_at: "2999-01-01T00:00:00Z", ttl: 60 })).toEqual({
        code: "VALIDATION_FAILED",
        path: "ttl",
      });
      expect(await refused({ ttl: "forever" })).toEqual({ code: "VALIDATION_FAILED", path: "ttl" });
      expect(await fx.store.countLive()).toBe(0);
    });

    it("closes without error", async () => {
      await expect(fx.store.close()).resolves.toBeUndefined();
    });

    it("counts memories, sources and tags in stats", async () => {
      await svc.remember({ content: "a", source_type: "user_explicit", tags: ["t1"] });
      const b = await svc.remember({ content: "b", source_type: "auto_capture", tags: ["t1", "t2"] });
      await svc.forget(b.memory.id);
      const s = await fx.store.stats();
      expect(s).toMatchObject({
        total_memories: 1,
        deleted: 1,
        by_source_type: { user_explicit: 1 },
        by_tag: { t1: 1 },
      });
    });
  });
}

function sample(id: string, content: string) {
  return sampleMemory({ id, content, source_instance: "conformance" });
}
