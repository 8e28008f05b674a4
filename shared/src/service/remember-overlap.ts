/**
 * Remember while the model embeds: the row (document, change, outbox, keyword index, entities)
 * is written during the model's run instead of after it, and the vector follows in a small
 * write of its own; the answer still waits for both, so a 201 means row and vector are stored.
 *
 * Why: the daemon's remember took 34.6 ms against 22.8 ms for the model alone, the row's write
 * (~8 ms of this thread: Automerge document, SQLite transaction with FTS, entities and thread
 * index) waiting for the model (its own thread). Overlapped, a remember costs the model's run
 * plus the vector's write (`pnpm bench query-cost` prints the ratio).
 *
 * Only where the vector cannot change the outcome: with semantic dedup (bge's 0.97 cosine) the
 * vector decides whether the memory is new, so that path embeds first, as before. A crash
 * between the two writes leaves a memory without a vector, which the backfill at start embeds.
 */

import type { StoredEmbedding } from "../memory/types.ts";
import type { MemoryStore, StoreWrite } from "../store/memory-store.ts";
import type { EmbedderInfo, RememberOutcome, ServiceLog } from "./memory-service.ts";

/**
 * True when the rows can be written while the model runs: the model runs on another thread
 * (on this one there is nothing to overlap: the hashing model keeps one transaction per write)
 * and the vector cannot make a memory a duplicate.
 */
export function rowsFirst(embedder: EmbedderInfo, skipDedup: boolean[]): boolean {
  return embedder.provider.offThread === true && (embedder.dedupCosine === null || skipDedup.every(Boolean));
}

export interface RowsFirstPorts {
  store: MemoryStore;
  /** The vector as stored, or null to skip it (no vector, or the model changed meanwhile). */
  toStored: (content: string, vector: Float32Array | null) => StoredEmbedding | null;
  /** Tells sync of the writes, once their vectors are stored (a push then carries them). */
  notify: (writes: StoreWrite[]) => void;
  /** A vector could not be stored: the backfill embeds it later. */
  missed: () => void;
  log: ServiceLog | null;
}

/**
 * Writes the rows (`writeRows`, group commit) while `vectors` are computed, then the vectors of
 * the memories created; sync hears of the rows only then.
 */
export async function rememberRowsFirst(
  writeRows: (later: { writes: StoreWrite[] }) => Promise<RememberOutcome[]>,
  vectors: Promise<(Float32Array | null)[]>,
  ports: RowsFirstPorts,
): Promise<RememberOutcome[]> {
  const later = { writes: [] as StoreWrite[] };
  // The worker host sends a request at the next setImmediate (calls of one turn merge): without
  // this turn the row's write (microtasks) ran first and the model started only after it.
  await new Promise((resolve) => setImmediate(resolve));
  const outcomes = await writeRows(later);
  try {
    await storeCreatedVectors(ports.store, outcomes, await vectors, ports.toStored);
  } catch (err) {
    ports.log?.info({ err: (err as Error).message }, "vector not stored: the backfill embeds it");
    ports.missed();
  }
  ports.notify(later.writes);
  return outcomes;
}

/** The vectors of the memories a remember created (duplicates have theirs already). */
async function storeCreatedVectors(
  store: MemoryStore,
  outcomes: RememberOutcome[],
  vectors: (Float32Array | null)[],
  toStored: (content: string, vector: Float32Array | null) => StoredEmbedding | null,
): Promise<void> {
  const items: { id: string; embedding: StoredEmbedding }[] = [];
  outcomes.forEach((o, i) => {
    const embedding = o.status === "created" ? toStored(o.memory.content, vectors[i]) : null;
    if (embedding) items.push({ id: o.memory.id, embedding });
  });
  // putEmbeddings skips a memory whose content changed meanwhile (its hash no longer matches).
  if (items.length) await store.putEmbeddings(items);
}
