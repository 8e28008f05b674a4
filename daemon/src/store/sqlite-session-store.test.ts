import { sessionStoreConformance } from "@tribalmemory/shared/testing/session-store-conformance";
import Database from "better-sqlite3";
import { SqliteSessionStore } from "./sqlite-session-store.ts";

sessionStoreConformance("SQLite", async () => {
  const db = new Database(":memory:");
  return {
    store: new SqliteSessionStore(db),
    cleanup: async () => {
      db.close();
    },
  };
});
