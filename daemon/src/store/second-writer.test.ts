import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import { newActorId } from "@tribalmemory/shared/memory/document";
import { MemoryService } from "@tribalmemory/shared/service/memory-service";
import { folderPerTest } from "@tribalmemory/shared/testing/temp-folder";
import { describe, expect, it } from "vitest";
import { SqliteMemoryStore } from "./sqlite-store.ts";

/**
 * The store is not its file's only writer: the term-stats build (term-stats-worker.ts) writes
 * its table from a worker thread's own connection. A write of the store that began while that
 * worker held the write lock failed at once with SQLITE_BUSY ("database is locked"), and the
 * remember answered 500: its transaction read first and could not then take the lock (a deferred
 * transaction is not retried). Tried with a purge's index rewrite on a worker (not kept): 480 of
 * 2,689 writes failed during one at 100k memories. Every write transaction now begins IMMEDIATE,
 * so it waits for the lock (busy_timeout) instead.
 */
describe("a second writer of the store's file", () => {
  const inFolder = folderPerTest("tm-second-writer-");

  it("makes the store's writes wait for its lock, not fail", async () => {
    const path = inFolder("memories.db");
    const store = new SqliteMemoryStore({ path });
    const service = new MemoryService({ store, actor: newActorId(), instanceId: "t" });
    try {
      await service.remember({ content: "A fact before the other writer", source_type: "user_explicit" });
      // Another thread's connection takes the write lock, holds it 300 ms, then commits.
      const worker = new Worker(
        `const { parentPort, workerData } = require("node:worker_threads");
         const Database = require(workerData.module);
         const db = new Database(workerData.path);
         db.exec("BEGIN IMMEDIATE");
         db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('other_writer', 'held')").run();
         parentPort.postMessage("held");
         Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300);
         db.exec("COMMIT");
         db.close();`,
        {
          eval: true,
          workerData: { path, module: createRequire(import.meta.url).resolve("better-sqlite3") },
        },
      );
      const exited = new Promise((resolve) => worker.once("exit", resolve));
      await new Promise((resolve) => worker.once("message", resolve));
      const outcomes = await Promise.allSettled([
        service.remember({
          content: "A fact while the other writer holds the lock",
          source_type: "user_explicit",
        }),
        service.remember({ content: "Another fact meanwhile", source_type: "user_explicit", tags: ["x"] }),
      ]);
      await exited;
      expect(outcomes.map((o) => (o.status === "rejected" ? String(o.reason) : "ok"))).toEqual(["ok", "ok"]);
      expect(await store.countLive()).toBe(3);
      expect(store.getMeta("other_writer")).toBe("held");
    } finally {
      await store.close();
    }
  });
});
