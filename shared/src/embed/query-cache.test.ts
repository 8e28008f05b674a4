import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EmbeddingCalls } from "../service/embedding-calls.ts";
import { createHashingProvider } from "./hashing.ts";
import type { EmbeddingProvider } from "./provider.ts";
import { createProvider } from "./use-lite.ts";

const dot = (a: Float32Array, b: Float32Array): number => a.reduce((s, x, i) => s + x * b[i], 0);
/** What one cached USE-lite query costs the bound: key (UTF-16), 512 floats, entry overhead. */
const entryBytes = (text: string) => text.length * 2 + 512 * 4 + 64;

describe("query-embedding cache, with the real USE-lite model", () => {
  let useLite: EmbeddingProvider;
  /** Counts the texts that reach the model. */
  let modelTexts: string[];
  let counted: EmbeddingProvider;
  beforeAll(async () => {
    useLite = await createProvider({});
    modelTexts = [];
    counted = {
      modelId: useLite.modelId,
      dims: useLite.dims,
      embed: (texts, kind) => {
        modelTexts.push(...texts);
        return useLite.embed(texts, kind);
      },
      close: async () => {},
    };
  }, 60_000);
  afterAll(() => useLite?.close());

  it("a repeated query is answered from the cache, not by the model, with the model's vector", async () => {
    modelTexts.length = 0;
    const calls = new EmbeddingCalls();
    const first = await calls.query(counted, "which database does billing use?");
    const again = await calls.query(counted, "which database does billing use?");
    expect(modelTexts).toEqual(["which database does billing use?"]);
    const [direct] = await useLite.embed(["which database does billing use?"], "query");
    expect(first).not.toBeNull();
    expect(dot(first as Float32Array, direct)).toBeGreaterThan(0.9999);
    expect(again).toBe(first);
    expect(calls.stats()).toMatchObject({
      queries: 2,
      query_model_calls: 1,
      query_cache: { hits: 1, misses: 1 },
    });
    // Concurrent recalls of a new text share one model call.
    const [a, b] = await Promise.all([
      calls.query(counted, "who is on call"),
      calls.query(counted, "who is on call"),
    ]);
    expect(a).toBe(b);
    expect(modelTexts).toHaveLength(2);
    expect(calls.stats().query_shared_calls).toBe(1);
  });

  it("evicts the least recently used query when the bytes bound is reached", async () => {
    modelTexts.length = 0;
    const [q1, q2, q3] = ["deploy schedule", "billing database", "on call rota"];
    // Room for two vectors, not three: eviction by bytes (the entry bound is far away).
    const calls = new EmbeddingCalls({ maxEntries: 100, maxBytes: entryBytes(q1) + entryBytes(q2) + 10 });
    await calls.query(counted, q1);
    await calls.query(counted, q2);
    await calls.query(counted, q1); // q1 is now the most recent: q2 goes first
    await calls.query(counted, q3);
    expect(calls.stats().query_cache).toMatchObject({ entries: 2, evictions: 1 });
    expect(calls.stats().query_cache.bytes).toBeLessThanOrEqual(calls.queryCache.maxBytes);
    modelTexts.length = 0;
    await calls.query(counted, q1);
    await calls.query(counted, q3);
    expect(modelTexts).toEqual([]); // both still cached
    await calls.query(counted, q2);
    expect(modelTexts).toEqual([q2]); // evicted: the model again
  });

  it("a model change empties the cache: no vector of another model is ever returned", async () => {
    modelTexts.length = 0;
    const calls = new EmbeddingCalls();
    const hashing = createHashingProvider();
    const fromUse = await calls.query(counted, "the ledger api owner");
    const fromHashing = await calls.query(hashing, "the ledger api owner");
    expect(fromHashing?.length).toBe(hashing.dims);
    expect(fromHashing?.length).not.toBe(fromUse?.length);
    const useAgain = await calls.query(counted, "the ledger api owner");
    // Back on USE-lite: computed again (the switch dropped its entries), the same vector.
    expect(modelTexts).toEqual(["the ledger api owner", "the ledger api owner"]);
    expect(dot(useAgain as Float32Array, fromUse as Float32Array)).toBeGreaterThan(0.9999);
    expect(calls.stats().query_cache).toMatchObject({ hits: 0, misses: 3, entries: 1 });
  });
});
