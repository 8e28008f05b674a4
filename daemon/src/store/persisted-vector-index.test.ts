import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHashingProvider } from "@tribalmemory/shared/embed/hashing";
import { contentHash } from "@tribalmemory/shared/memory/content";
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
    await store.vectorIndexReady();
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

  it("answers while the snapshot is read off the main thread, and keeps the writes made meanwhile", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tm-vecsnap-"));
    dirs.push(dir);
    const path = join(dir, "memories.db");
    const first = await open(path);
    const kept = await first.service.rememberMany(
      Array.from({ length: 40 }, (_, i) => ({
        content: `runbook step ${i} for the ledger-${i} service`,
        source_type: "user_explicit" as const,
      })),
    );
    const model = await first.store.embeddingModel();
    await first.store.close();

    const embed = async (text: string) => (await createHashingProvider(64).embed([text], "query"))[0];
    const moved = await embed("the pager rota moved to Priya");
    const query12 = await embed("runbook step 12 for the ledger-12 service");
    const reports: IndexOpenReport[] = [];
    const store = new SqliteMemoryStore({ path, readWorker: false, onVectorIndex: (r) => reports.push(r) });
    // Before the file is read (these run synchronously after the constructor): a search that
    // waits for the index, one memory purged and another's vector replaced.
    const early = store.vectorSearch(query12, 1, {});
    store.purgeSync(kept[3].memory.id);
    void store.putEmbeddings([
      {
        id: kept[5].memory.id,
        embedding: {
          modelId: model?.modelId ?? "",
          contentHash: contentHash(kept[5].memory.content),
          vector: moved,
        },
      },
    ]);
    expect(reports).toEqual([]);
    expect(store.vectorIndexState()).toBe("loading");
    expect((await early)[0].id).toBe(kept[12].memory.id);
    expect(store.vectorIndexState()).toBe("ready");
    await store.vectorIndexReady();
    // Read from the file (the purge removed its name, not the open file), the changes applied on top.
    expect(reports).toMatchObject([{ from: "snapshot", vectors: 40 - 1 }]);
    expect((await store.vectorSearch(moved, 1, {}))[0].id).toBe(kept[5].memory.id);
    const near3 = await store.vectorSearch(await embed("runbook step 3 for the ledger-3 service"), 40, {});
    expect(near3.map((h) => h.id)).not.toContain(kept[3].memory.id);
    await store.close();
  });
});
