import type { MemoryStore } from "../store/memory-store.ts";
import type { EmbedderInfo } from "./memory-service.ts";

/**
 * Embed every memory lacking a vector of the current model, in batches, walking the store with
 * an id cursor (one pass, not a rescan of embedded rows per batch). Stops when the model is
 * replaced. Returns how many were embedded; `onProgress(done, total)` after each batch.
 */
export async function embedMissingVectors(
  store: MemoryStore,
  currentEmbedder: () => EmbedderInfo | null,
  onProgress?: (done: number, total: number) => void,
  batchSize = 64,
): Promise<number> {
  const embedder = currentEmbedder();
  if (!embedder) return 0;
  let total = await store.countMissingEmbeddings();
  let done = 0;
  let after: string | null = null;
  while (currentEmbedder() === embedder) {
    const batch = await store.missingEmbeddings(batchSize, after);
    if (!batch.length) break;
    after = batch[batch.length - 1].id;
    const vectors = await embedder.provider.embed(
      batch.map((b) => b.content),
      "passage",
    );
    await store.putEmbeddings(
      batch.map((b, i) => ({
        id: b.id,
        embedding: { modelId: embedder.provider.modelId, contentHash: b.contentHash, vector: vectors[i] },
      })),
    );
    done += batch.length;
    // Memories keep arriving while this runs (imports, sync): the loop embeds them too, so
    // count again rather than report more done than the total ("backfill 2005/503").
    if (done >= total) total = done + (await store.countMissingEmbeddings());
    onProgress?.(done, total);
    // An embedder that answers on this thread (hashing) would otherwise run the whole backfill
    // in one turn of the event loop: after a 5k import, health waited 1.1 s.
    await new Promise((r) => setImmediate(r));
  }
  return done;
}
