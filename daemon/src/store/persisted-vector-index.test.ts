import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHashingProvider } from "@tribalmemory/shared/embed/hashing";
import { newActorId } from "@tribalmemory/shared/memory/document";
import { MemoryService } from "@tribalmemory/shared/service/memory-service";
import { afterEach, describe, expect, it } from "vitest";
import type { IndexOpenReport } from "./persisted-vector-index.ts";
import { SqliteMemoryStore } from "./sqlite-store.ts";

/**
 * The vector index is read from its snapshot file when the store opens (no decoding of every
 * vector), and rebuilt from vec0 whenever the file may not match the database.
 */
describe("vector index snapshot of a data folder", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  async function open(path: string) {
    const reports: IndexOpenReport[] = [];
    const store = new SqliteMemoryStore({ path, readWorker: false, onVectorIndex: (r) => reports.push(r) });
    const service = new MemoryService({ store, actor: newActorId(), instanceId: "test" });
    await service.setEmbedder({
      provider: createHashingProvider(64),
      calibration: { floor: 0.1, ceiling: 0.9, weight: 1 },
      dedupCosine: null,
    });
    return { store, service, reports };
  }

  const recallIds = async (service: MemoryService, query: string) =>
    (
      await service.recall({
        query,
        limit: 3,
        min_relevance: 0,
        include_superseded: false,
        sources: "memories",
      })
    ).results.map((r) => r.memory.content);

  it("reopens from the file after a clean close, and rebuilds when a write or a crash made it stale", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tm-vecsnap-"));
    dirs.push(dir);
    const path = join(dir, "memories.db");
    const file = `${path}.vectors`;

    const first = await open(path);
    await first.service.rememberMany(
      Array.from({ length: 30 }, (_, i) => ({
        content: `deployment note ${i} about service-${i}`,
        source_type: "user_explicit" as const,
      })),
    );
    const forgotten = await first.service.remember({
      content: "the staging password rotates weekly",
      source_type: "user_explicit",
    });
    expect(first.reports).toEqual([]); // a new folder: no model yet when it opened
    await first.store.close();
    expect(existsSync(file)).toBe(true);

    // Clean reopen: every vector comes from the file.
    const second = await open(path);
    expect(second.reports).toMatchObject([{ from: "snapshot", vectors: 31 }]);
    expect(await recallIds(second.service, "deployment note 7 about service-7")).toContain(
      "deployment note 7 about service-7",
    );
    // The first vector change removes the file at once (a forgotten memory's vector with it).
    await second.service.forget(forgotten.memory.id);
    expect(existsSync(file)).toBe(false);
    await second.store.close();

    const third = await open(path);
    expect(third.reports).toMatchObject([{ from: "snapshot", vectors: 30 }]);
    await third.service.remember({
      content: "a note written before the crash",
      source_type: "user_explicit",
    });
    // A crash: the process ends without closing the store, so no file is written.
    third.store.db.close();
    expect(existsSync(file)).toBe(false);

    const fourth = await open(path);
    expect(fourth.reports).toMatchObject([{ from: "rebuilt", vectors: 31 }]);
    expect(await recallIds(fourth.service, "a note written before the crash")).toContain(
      "a note written before the crash",
    );
    await fourth.store.close();

    // Opened by a caller that does not ask how: the index is there all the same.
    const plain = new SqliteMemoryStore({ path, readWorker: false });
    const query = (await createHashingProvider(64).embed(["a note written before the crash"], "query"))[0];
    expect((await plain.vectorSearch(query, 1, {})).length).toBe(1);
    await plain.close();
  });
});
