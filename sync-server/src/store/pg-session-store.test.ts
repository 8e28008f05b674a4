import { sessionStoreConformance } from "@tribalmemory/shared/testing/session-store-conformance";
import { afterAll, beforeAll } from "vitest";
import { openDatabase, type RelayDatabase } from "./database.ts";
import { createWorkspace } from "./pg-keys.ts";
import { PgSessionStore } from "./pg-session-store.ts";

/** One database per backend for the file; each test gets a fresh workspace, an empty store. */
function registerBackend(name: string, open: () => Promise<RelayDatabase>): void {
  let db: RelayDatabase;
  beforeAll(async () => {
    db = await open();
  }, 60_000);
  afterAll(async () => {
    await db?.close();
  });
  sessionStoreConformance(name, async () => {
    const { workspaceId } = await createWorkspace(db, { name: "session conformance" });
    return { store: new PgSessionStore(db, workspaceId), cleanup: async () => {} };
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
