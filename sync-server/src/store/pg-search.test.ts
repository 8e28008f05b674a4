import { contentHash } from "@tribalmemory/shared/memory/content";
import { createMemoryDoc, newActorId } from "@tribalmemory/shared/memory/document";
import { sampleMemory } from "@tribalmemory/shared/testing/sample-memory";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrateSchema, openDatabase, type RelayDatabase } from "./database.ts";
import { vectorIndexName } from "./migrations/v11-vector-dims.ts";
import { createWorkspace } from "./pg-keys.ts";
import { SMALL_WORKSPACE_MAX, VectorPaths, vectorSearchIn, vectorSearchStatement } from "./pg-search.ts";
import { PgMemoryStore } from "./pg-store.ts";

/** A seeded unit vector: rows and queries of one test are reproducible. */
function unitVector(dims: number, seed: number): Float32Array {
  let s = seed * 2654435761;
  const v = new Float32Array(dims);
  let norm = 0;
  for (let i = 0; i < dims; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    v[i] = s / 2 ** 32 - 0.5;
    norm += v[i] * v[i];
  }
  for (let i = 0; i < dims; i++) v[i] /= Math.sqrt(norm);
  return v;
}

/** A workspace holding `n` memories with seeded vectors of `dims` (model `vec-<dims>`), through ingest. */
async function seed(db: RelayDatabase, dims: number, n: number, seedBase: number) {
  const { workspaceId } = await createWorkspace(db, { name: `w${dims}` });
  const store = new PgMemoryStore(db, workspaceId, { actor: newActorId() });
  const actor = newActorId();
  await store.ingest(
    Array.from({ length: n }, (_, i) => {
      const content = `memory ${seedBase + i}`;
      return {
        change: createMemoryDoc(sampleMemory({ content }), actor).change,
        embedding: {
          modelId: `vec-${dims}`,
          contentHash: contentHash(content),
          vector: unitVector(dims, seedBase + i),
        },
      };
    }),
    "test",
  );
  return { workspaceId, store, model: { modelId: `vec-${dims}`, dims } };
}

/** The plan of a statement as the app role in the workspace's scope. */
async function planOf(
  db: RelayDatabase,
  workspaceId: string,
  text: string,
  values: unknown[],
): Promise<string> {
  return db.tx(workspaceId, async (sql) => {
    const rows = await sql.query<{ "QUERY PLAN": string }>(`EXPLAIN ${text}`, values);
    return rows.map((r) => r["QUERY PLAN"]).join("\n");
  });
}

/** `remigrate`: run the migrations again on the same database (absent for in-memory PGlite). */
function registerBackend(
  name: string,
  open: () => Promise<RelayDatabase>,
  remigrate: (() => Promise<unknown>) | null,
) {
  describe(`relay vector search paths (${name})`, () => {
    let db: RelayDatabase;
    beforeAll(async () => {
      db = await open();
    }, 60_000);
    afterAll(async () => {
      await db?.close();
    });

    it("searches a 512-d workspace through its HNSW index and finds the exact scan's top-k", async () => {
      const a = await seed(db, 512, 60, 1000);
      await seed(db, 512, 60, 5000); // another tenant's rows in the same index
      const query = unitVector(512, 1003);
      const hnsw = vectorSearchStatement(a.workspaceId, a.model, query, 10, {}, "hnsw");
      // The planner would sort 60 rows rather than walk a graph: show the index path it can take.
      const plan = await db.tx(a.workspaceId, async (sql) => {
        await sql.query("SET LOCAL enable_seqscan = off");
        await sql.query("SET LOCAL enable_bitmapscan = off");
        await sql.query("SET LOCAL enable_sort = off");
        const rows = await sql.query<{ "QUERY PLAN": string }>(`EXPLAIN ${hnsw.text}`, hnsw.values);
        return rows.map((r) => r["QUERY PLAN"]).join("\n");
      });
      expect(plan).toContain(vectorIndexName(512));
      const exact = await db.tx(a.workspaceId, (sql) =>
        vectorSearchIn(sql, a.workspaceId, a.model, query, 10, {}, "exact"),
      );
      const viaIndex = await db.tx(a.workspaceId, (sql) =>
        vectorSearchIn(sql, a.workspaceId, a.model, query, 10, {}, "hnsw"),
      );
      expect(exact).toHaveLength(10);
      expect(exact[0].score).toBeCloseTo(1, 5); // the memory whose own vector was asked for
      expect(viaIndex.map((h) => h.id)).toEqual(exact.map((h) => h.id));
      const exactPlan = vectorSearchStatement(a.workspaceId, a.model, query, 10, {}, "exact");
      expect(await planOf(db, a.workspaceId, exactPlan.text, exactPlan.values)).not.toContain(
        vectorIndexName(512),
      );
    });

    it("searches 768-d vectors by both paths, and an unindexed width exactly", async () => {
      const wide = await seed(db, 768, 40, 9000);
      const odd = await seed(db, 100, 40, 9500);
      const paths = new VectorPaths();
      for (const w of [wide, odd]) {
        const query = unitVector(w.model.dims, w === wide ? 9007 : 9507);
        const hits = await w.store.vectorSearch(query, 5, {});
        expect(hits).toHaveLength(5);
        expect(hits[0].score).toBeCloseTo(1, 5);
        const viaIndex = await db.tx(w.workspaceId, (sql) =>
          vectorSearchIn(sql, w.workspaceId, w.model, query, 5, {}, "hnsw"),
        );
        expect(viaIndex.map((h) => h.id)).toEqual(hits.map((h) => h.id));
      }
      // A small workspace is searched exactly; a width with no index always is.
      expect(await db.tx(wide.workspaceId, (sql) => paths.choose(sql, wide.workspaceId, 768))).toBe("exact");
      expect(await db.tx(odd.workspaceId, (sql) => paths.choose(sql, odd.workspaceId, 100))).toBe("exact");
      expect(SMALL_WORKSPACE_MAX).toBeGreaterThan(40);
    });

    it("never returns another workspace's rows, by either path, as the app role", async () => {
      // Two workspaces with the very same vectors: only the scope tells them apart.
      const a = await seed(db, 512, 30, 20000);
      const b = await seed(db, 512, 30, 20000);
      const own = async (w: typeof a) =>
        new Set(
          (
            await db.tx(w.workspaceId, (sql) =>
              sql.query<{ id: string }>("SELECT id FROM memories WHERE workspace_id = $1", [w.workspaceId]),
            )
          ).map((r) => r.id),
        );
      const mineA = await own(a);
      const mineB = await own(b);
      for (const path of ["exact", "hnsw"] as const) {
        const query = unitVector(512, 20005);
        const hitsA = await db.tx(a.workspaceId, (sql) =>
          vectorSearchIn(sql, a.workspaceId, a.model, query, 60, {}, path),
        );
        expect(hitsA.length).toBeGreaterThan(0);
        expect(hitsA.every((h) => mineA.has(h.id) && !mineB.has(h.id))).toBe(true);
        // Asking in A's scope for B's workspace finds nothing: row-level security, not the WHERE.
        const crossed = await db.tx(a.workspaceId, (sql) =>
          vectorSearchIn(sql, b.workspaceId, b.model, query, 60, {}, path),
        );
        expect(crossed).toEqual([]);
      }
    });

    it.skipIf(!remigrate)(
      "builds the index of a width a workspace starts using when the schema is migrated again",
      async () => {
        await seed(db, 640, 5, 30000);
        const valid = async () =>
          db.tx(null, (sql) =>
            sql.query<{ valid: boolean }>(
              "SELECT i.indisvalid AS valid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = $1",
              [vectorIndexName(640)],
            ),
          );
        expect(await valid()).toEqual([]);
        await remigrate?.();
        expect(await valid()).toEqual([{ valid: true }]);
      },
    );
  });
}

registerBackend("PGlite", () => openDatabase({}), null);
if (process.env.TEST_APP_DATABASE_URL) {
  const urls = {
    databaseUrl: process.env.TEST_APP_DATABASE_URL,
    adminDatabaseUrl: process.env.TEST_DATABASE_URL,
  };
  registerBackend(
    "PostgreSQL (app role, RLS)",
    () => openDatabase(urls),
    () => migrateSchema(urls),
  );
}
