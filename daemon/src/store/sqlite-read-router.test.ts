import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { newActorId } from "@tribalmemory/shared/memory/document";
import { MemoryService } from "@tribalmemory/shared/service/memory-service";
import { sampleMemory } from "@tribalmemory/shared/testing/sample-memory";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { ReadQuery } from "./read-worker.ts";
import { ReadWorkerClient } from "./read-worker-client.ts";
import { SqliteMemoryStore } from "./sqlite-store.ts";

describe("the read worker's keyword ranking", () => {
  let dir: string;
  let store: SqliteMemoryStore;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "tm-read-router-"));
    store = new SqliteMemoryStore({ path: join(dir, "memories.db") });
    const svc = new MemoryService({ store, actor: newActorId(), instanceId: "test" });
    const words = ["deploy", "invoice", "runner", "postgres"];
    await svc.insertExact(
      Array.from({ length: 40 }, (_, i) => ({
        memory: sampleMemory({ content: `${words[i % 4]} note ${i} ${i % 3 ? "friday" : "monday"}` }),
      })),
    );
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("brings the terms' frequencies with it: recall asks the worker once, not twice", async () => {
    const sent: ReadQuery[] = [];
    const send = ReadWorkerClient.prototype.send;
    vi.spyOn(ReadWorkerClient.prototype, "send").mockImplementation(function (this: ReadWorkerClient, q) {
      sent.push(q);
      return send.call(this, q);
    });
    const terms = ["deploy", "friday"];
    // As recall asks them: both at once, the frequencies for coverage's weights.
    const [hits, frequencies] = await Promise.all([
      store.keywordSearch(terms, 10, {}, { thread: true }),
      store.termFrequencies(terms),
    ]);
    expect(hits.length).toBeGreaterThan(0);
    expect(sent.map((q) => Object.keys(q)[0])).toEqual(["keywordTop"]);
    // The same as the worker answers when asked alone.
    expect(frequencies).toEqual(await store.termFrequencies(terms));
    expect(frequencies).toEqual({ docs: 40, df: [10, 26] });
    expect(sent.map((q) => Object.keys(q)[0])).toEqual(["keywordTop", "frequencyTerms"]);
    // Other terms than the ranking's are asked of the worker.
    await Promise.all([store.keywordSearch(["invoice"], 10, {}), store.termFrequencies(["runner"])]);
    expect(sent.map((q) => Object.keys(q)[0]).slice(2)).toEqual(["keywordTop", "frequencyTerms"]);
  });
});
