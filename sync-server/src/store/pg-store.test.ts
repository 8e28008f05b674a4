import { newActorId } from "@tribalmemory/shared/memory/document";
import { memoryStoreConformance } from "@tribalmemory/shared/testing/memory-store-conformance";
import { afterAll, beforeAll } from "vitest";
import { openDatabase, type RelayDatabase } from "./database.ts";
import { createWorkspace } from "./pg-keys.ts";
import { PgMemoryStore } from "./pg-store.ts";

/**
 * One database per backend for the whole file (PGlite takes seconds to start); each test gets
 * a fresh workspace, which is an empty store.
 */
function registerBackend(name: string, open: () => Promise<RelayDatabase>): void {
  let db: RelayDatabase;
  beforeAll(async () => {
    db = await open();
  }, 60_000);
  afterAll(async () => {
    await db?.close();
  });
  memoryStoreConformance(name, async () => {
    const { workspaceId } = await createWorkspace(db, { name: "conformance" });
    return { store: new PgMemoryStore(db, workspaceId, { actor: newActorId() }), cleanup: async () => {} };
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
