import type { ChangeRecord, Memory, MemoryFilters, StoredEmbedding } from "../memory/types.ts";

/** Everything one write persists, atomically: never one part without the others. */
export interface StoreWrite {
  memory: Memory;
  /** Normalised-content key for exact-duplicate detection (`dedupKey`). */
  dedupKey: string;
  change: ChangeRecord;
  /** The document saved after the change (Automerge.save), so the next edit loads it. */
  docBytes: Uint8Array;
  /** The vector for the current content, when a model is loaded; absent → backfilled later. */
  embedding?: StoredEmbedding | null;
}

export interface SearchHit {
  id: string;
  /** Vector: cosine similarity in -1..1. Keyword: BM25 relevance, larger is better. */
  score: number;
}

export interface ListPage {
  memories: Memory[];
  nextCursor: string | null;
}

export interface StoreStats {
  total_memories: number;
  deleted: number;
  superseded: number;
  embedded: number;
  by_source_type: Record<string, number>;
  by_tag: Record<string, number>;
  by_source_instance: Record<string, number>;
  storage_bytes: number | null;
}

/**
 * One workspace's memories. The daemon (SQLite) and the relay (Postgres) implement it; one
 * conformance suite (`conformance.ts`) runs against both. Visibility rules live here, in the
 * query, so a superseded memory is hidden even when its correction is not in the same result
 * list.
 */
export interface MemoryStore {
  /** Persist writes in one transaction, in order. */
  write(writes: StoreWrite[]): Promise<void>;
  get(id: string): Promise<Memory | null>;
  /** Memories by id, in the order asked, skipping unknown ids. Applies no visibility filter. */
  getMany(ids: string[]): Promise<Memory[]>;
  getDoc(id: string): Promise<Uint8Array | null>;
  /** The live (not deleted) memory with this normalised content, if any. */
  findByDedupKey(key: string): Promise<Memory | null>;
  /** Ids among `ids` that some live memory supersedes. */
  supersededAmong(ids: string[]): Promise<Set<string>>;
  list(options: { filters: MemoryFilters; limit: number; cursor: string | null }): Promise<ListPage>;
  /** Nearest visible memories by cosine similarity of their current-model embedding. */
  vectorSearch(vector: Float32Array, k: number, filters: MemoryFilters): Promise<SearchHit[]>;
  /** Visible memories matching any of the terms (OR), best BM25 first. */
  keywordSearch(terms: string[], k: number, filters: MemoryFilters): Promise<SearchHit[]>;
  stats(): Promise<StoreStats>;
  /** The model whose vectors the store holds, or null before the first one. */
  embeddingModel(): Promise<{ modelId: string; dims: number } | null>;
  /** Switch model: vectors of another model are dropped (to be re-embedded). */
  setEmbeddingModel(modelId: string, dims: number): Promise<void>;
  putEmbeddings(items: { id: string; embedding: StoredEmbedding }[]): Promise<void>;
  /** Live memories lacking a vector for the current model (or whose content changed since). */
  missingEmbeddings(limit: number): Promise<{ id: string; content: string; contentHash: string }[]>;
  countMissingEmbeddings(): Promise<number>;
  close(): Promise<void>;
}
