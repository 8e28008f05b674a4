import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { memoryStoreConformance } from "@tribalmemory/shared/testing/memory-store-conformance";
import { SqliteMemoryStore } from "./sqlite-store.ts";

memoryStoreConformance("SQLite", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tm-sqlite-"));
  const store = new SqliteMemoryStore({ path: join(dir, "memories.db") });
  return {
    store,
    cleanup: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
