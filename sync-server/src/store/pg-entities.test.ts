import { newActorId } from "@tribalmemory/shared/memory/document";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningRelay } from "../server.ts";
import { api, startTestRelay } from "../testing.ts";
import { openDatabase, type RelayDatabase } from "./database.ts";
import { createApiKey, createWorkspace } from "./pg-keys.ts";
import { PgMemoryStore } from "./pg-store.ts";

/** Counts of a workspace's entity index rows, read under its own row-level security scope. */
async function indexRows(db: RelayDatabase, workspaceId: string) {
  return db.tx(workspaceId, async (sql) => {
    const n = async (t: string) =>
      (await sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${t}`))[0].n;
    return {
      entities: await n("entities"),
      aliases: await n("entity_aliases"),
      links: await n("memory_entities"),
      dates: await n("memory_event_dates"),
    };
  });
}

/** The relay's entity index: written with each memory, read by recall and the entity routes. */
function registerBackend(name: string, open: () => Promise<RelayDatabase>): void {
  describe(`relay entity index (${name})`, () => {
    let db: RelayDatabase;
    let relay: RunningRelay;
    let wsA: string;
    let keyA: string;
    let readA: string;
    let keyB: string;
    let store: PgMemoryStore;
    const ids: Record<string, string> = {};

    beforeAll(async () => {
      db = await open();
      relay = await startTestRelay(db);
      const a = await createWorkspace(db, { name: "A" });
      const b = await createWorkspace(db, { name: "B" });
      wsA = a.workspaceId;
      keyA = (await createApiKey(db, a.workspaceId, { name: "a", scopes: ["admin"] })).key;
      readA = (await createApiKey(db, a.workspaceId, { name: "ro", scopes: ["read"] })).key;
      keyB = (await createApiKey(db, b.workspaceId, { name: "b", scopes: ["admin"] })).key;
      const remember = async (label: string, content: string, key = keyA) => {
        const res = await api<{ memory_id: string }>(relay.url, "POST", "/v1/remember", { content }, key);
        expect(res.status).toBe(201);
        ids[label] = res.body.memory_id;
      };
      await remember("owner", "Priya Shah owns the billing-service and its pager rotation.");
      await remember("pkg", "The billing-service depends on @acme/http-client for retries.");
      await remember("date", "On 2024-03-01 we moved the ledger to Postgres.");
      await remember("other", "Lunch on the roof is nice in summer.");
      await remember("secretB", "Marcus Okafor runs the vault-service in workspace B.", keyB);
      store = (await relay.workspace(wsA)).store;
    }, 60_000);

    afterAll(async () => {
      await relay?.close();
      await db?.close();
    });

    it("finds memories by entity name and by alias", async () => {
      const byName = await store.entitySearch(["billing-service"], 10, {});
      expect(byName.map((h) => h.id).sort()).toEqual([ids.owner, ids.pkg].sort());
      expect(byName[0].matched).toEqual(["billing-service"]);
      const byAlias = await store.entitySearch(["priya"], 10, {});
      expect(byAlias.map((h) => h.id)).toEqual([ids.owner]);
      expect(byAlias[0].score).toBeGreaterThan(0);
      const pkg = await store.entitySearch(["http-client"], 10, {});
      expect(pkg.map((h) => h.id)).toEqual([ids.pkg]);
      expect(await store.resolveEntities(["priya"])).toEqual([{ name: "priya shah", type: "person" }]);
      expect(await store.entitySearch(["nobody"], 10, {})).toEqual([]);
    });

    it("lists entities, their neighbours, and filters by entity names and event dates", async () => {
      const listed = await store.listEntities({ limit: 10 });
      expect(listed[0]).toEqual({ name: "billing-service", type: "service", memories: 2 });
      expect((await store.listEntities({ limit: 10, prefix: "pri" })).map((e) => e.name)).toEqual([
        "priya shah",
      ]);
      const edges = await store.entityNeighbours(["billing-service"], 10);
      expect(edges.map((e) => e.target).sort()).toEqual(["@acme/http-client", "priya shah"]);
      const page = await store.list({ filters: { entityNames: ["priya"] }, limit: 10, cursor: null });
      expect(page.memories.map((m) => m.id)).toEqual([ids.owner]);
      const march = { after: Date.UTC(2024, 2, 1), before: Date.UTC(2024, 2, 2) };
      const dated = await store.list({
        filters: { ...march, matchEventDates: true },
        limit: 10,
        cursor: null,
      });
      expect(dated.memories.map((m) => m.id)).toEqual([ids.date]);
      expect((await store.list({ filters: march, limit: 10, cursor: null })).memories).toEqual([]);
    });

    it("counts term frequencies over live memories", async () => {
      const tf = await store.termFrequencies(["billing", "roof", "zebra"]);
      expect(tf).toEqual({ docs: 4, df: [2, 1, 0] });
    });

    it("serves the entity routes over HTTP with a read key, scoped to the key's workspace", async () => {
      const list = await api<{ entities: { name: string }[] }>(
        relay.url,
        "GET",
        "/v1/entities",
        undefined,
        readA,
      );
      expect(list.status).toBe(200);
      expect(list.body.entities.map((e) => e.name)).toContain("priya shah");
      const mems = await api<{ results: { memory: { id: string } }[] }>(
        relay.url,
        "GET",
        "/v1/entities/Priya/memories",
        undefined,
        readA,
      );
      expect(mems.status).toBe(200);
      expect(mems.body.results.map((r) => r.memory.id)).toEqual([ids.owner]);
      const graph = await api<{ entity: string; relationships: { target: string }[] }>(
        relay.url,
        "GET",
        "/v1/graph?entity=billing-service",
        undefined,
        readA,
      );
      expect(graph.status).toBe(200);
      expect(graph.body.relationships.map((r) => r.target)).toContain("priya shah");
      expect((await api(relay.url, "GET", "/v1/entities")).status).toBe(401);

      // Another workspace's key sees only its own entities.
      const listB = await api<{ entities: { name: string }[] }>(
        relay.url,
        "GET",
        "/v1/entities",
        undefined,
        keyB,
      );
      expect(listB.body.entities.map((e) => e.name)).toEqual(["marcus okafor", "vault-service"].sort());
      expect((await api(relay.url, "GET", "/v1/entities/priya/memories", undefined, keyB)).status).toBe(404);
      expect((await api(relay.url, "GET", "/v1/graph?entity=billing-service", undefined, keyB)).status).toBe(
        404,
      );
      const recallB = await api<{ results: { memory: { id: string } }[] }>(
        relay.url,
        "POST",
        "/v1/recall",
        { query: "Who is Priya Shah?" },
        keyB,
      );
      expect(recallB.body.results.map((r) => r.memory.id)).not.toContain(ids.owner);
    });

    it("recalls through the entity list on the relay", async () => {
      const res = await api<{ results: { memory: { id: string } }[] }>(
        relay.url,
        "POST",
        "/v1/recall",
        { query: "What does Priya own?" },
        readA,
      );
      expect(res.status).toBe(200);
      expect(res.body.results[0]?.memory.id).toBe(ids.owner);
    });

    it("rebuilds an index an older extractor (or none) wrote", async () => {
      await db.tx(wsA, async (sql) => {
        for (const t of ["memory_entities", "entity_aliases", "entities", "memory_event_dates"])
          await sql.query(`DELETE FROM ${t}`);
        await sql.query("UPDATE workspaces SET entity_index_version = 0 WHERE id = $1", [wsA]);
      });
      const fresh = new PgMemoryStore(db, wsA, { actor: newActorId() });
      expect((await fresh.entitySearch(["priya"], 10, {})).map((h) => h.id)).toEqual([ids.owner]);
      expect((await indexRows(db, wsA)).dates).toBe(1);
    });

    it("drops a hidden memory's links on forget, and every entity row of a purged one", async () => {
      expect((await api(relay.url, "DELETE", `/v1/memories/${ids.other}`, undefined, keyA)).status).toBe(200);
      const before = await indexRows(db, wsA);
      expect(
        (await api(relay.url, "DELETE", `/v1/memories/${ids.owner}?purge=true`, undefined, keyA)).status,
      ).toBe(200);
      expect(await store.entitySearch(["priya"], 10, {})).toEqual([]);
      expect(await store.resolveEntities(["priya shah", "priya"])).toEqual([]);
      const after = await indexRows(db, wsA);
      expect(after.entities).toBe(before.entities - 1);
      expect(after.aliases).toBe(before.aliases - 1);
      expect(after.links).toBe(before.links - 2);
      // The billing-service is still named by the package memory.
      expect((await store.entitySearch(["billing-service"], 10, {})).map((h) => h.id)).toEqual([ids.pkg]);
      expect(
        (await api(relay.url, "DELETE", `/v1/memories/${ids.date}?purge=true`, undefined, keyA)).status,
      ).toBe(200);
      expect((await indexRows(db, wsA)).dates).toBe(0);
    });
  });
}

registerBackend("PGlite", () => openDatabase({}));
if (process.env.TEST_APP_DATABASE_URL) {
  registerBackend("PostgreSQL (app role, RLS)", () =>
    openDatabase({
      databaseUrl: process.env.TEST_APP_DATABASE_URL,
      adminDatabaseUrl: process.env.TEST_DATABASE_URL,
    }),
  );
}
