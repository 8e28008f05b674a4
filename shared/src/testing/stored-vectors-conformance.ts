import { expect, it } from "vitest";
import type { EmbeddingProvider } from "../embed/provider.ts";
import { newMemoryId } from "../memory/ids.ts";
import { exportEntries, exportManifest, exportModel } from "../service/bundle-export.ts";
import { MemoryService } from "../service/memory-service.ts";
import type { MemoryStore } from "../store/memory-store.ts";

/**
 * The vectors a store keeps: only one made from a memory's current text is taken, and
 * `storedVectors` (an export's `include_embeddings`) gives them back instead of the model
 * running on every memory again. Registered inside the store conformance suite.
 */
export function storedVectorsConformance(
  current: () => { store: MemoryStore; service: MemoryService; embedder: EmbeddingProvider },
): void {
  it("gives the vectors it keeps for the current model and text, none for another model", async () => {
    const { store, service, embedder } = current();
    const texts = ["the relay keeps vectors", "an export reads them back", "no model runs again"];
    const ids: string[] = [];
    for (const content of texts)
      ids.push((await service.remember({ content, source_type: "user_explicit" })).memory.id);
    const stored = store.storedVectors?.bind(store);
    if (!stored) throw new Error("both stores keep their vectors: storedVectors must exist");
    const made = await embedder.embed(texts, "passage");
    const got = await stored([...ids, newMemoryId()], embedder.modelId);
    expect([...got.keys()].sort()).toEqual([...ids].sort());
    ids.forEach((id, i) => {
      expect(Array.from(got.get(id) ?? [])).toEqual(Array.from(made[i]));
    });
    expect((await stored(ids, "another-model")).size).toBe(0);
    expect((await stored([], embedder.modelId)).size).toBe(0);
  });

  it("ignores a vector computed for content that has since changed", async () => {
    const { store, service, embedder } = current();
    const a = await service.remember({ content: "original text", source_type: "user_explicit" });
    const stale = new Float32Array(embedder.dims).fill(0.125);
    await store.putEmbeddings([
      {
        id: a.memory.id,
        embedding: { modelId: embedder.modelId, contentHash: "0".repeat(64), vector: stale },
      },
    ]);
    const [q] = await embedder.embed(["original text"], "query");
    const [hit] = await store.vectorSearch(q, 1, {});
    expect(hit.score).toBeGreaterThan(0.99);
    const kept = (await store.storedVectors?.([a.memory.id], embedder.modelId))?.get(a.memory.id);
    const [made] = await embedder.embed(["original text"], "passage");
    expect(Array.from(kept ?? [])).toEqual(Array.from(made));
  });

  // A relay run without a model (`--embedding none`) keeps the vectors its daemons pushed: an
  // export with include_embeddings gave null for each, and a manifest without their model.
  it("exports the kept vectors and names their model where the service runs none", async () => {
    const { store, service, embedder } = current();
    const a = await service.remember({
      content: "a vector pushed by a daemon",
      source_type: "user_explicit",
    });
    const bare = new MemoryService({ store, actor: "bare", instanceId: "relay" });
    const model = await exportModel(bare);
    expect(exportManifest(model, 1).embedding).toEqual({
      model_name: embedder.modelId,
      dimensions: embedder.dims,
      provider: "tribalmemory",
    });
    const entries = [];
    for await (const e of exportEntries(bare, { filters: {}, includeEmbeddings: true })) entries.push(e);
    const [made] = await embedder.embed([a.memory.content], "passage");
    expect(entries.map((e) => e.id)).toEqual([a.memory.id]);
    expect(entries[0].embedding).toEqual(Array.from(made, (x) => Math.round(x * 1e6) / 1e6));
  });
}
