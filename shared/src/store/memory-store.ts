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

/** A memory naming some of the query's entities. */
export interface EntityHit {
  id: string;
  /** 0..1: the share of the query's entity weight (idf) this memory names. */
  score: number;
  /** The query names it matched. */
  matched: string[];
}

export interface EntitySummary {
  name: string;
  type: string;
  /** Visible memories naming it. */
  memories: number;
}

/** Two entities named in the same memories. */
export interface EntityEdge {
  source: string;
  target: string;
  type: "co_occurs";
  /** Memories naming both. */
  weight: number;
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
 * conformance suite (`../testing/memory-store-conformance.ts`) runs against both, and every
 * method is under it. Visibility rules live here, in the
 * query, so a superseded memory is hidden even when its correction is not in the same result
 * list.
 */
export interface MemoryStore {
  /** Persist writes in one transaction, in order. */
  write(writes: StoreWrite[]): Promise<void>;
  get(id: string): Promise<Memory | null>;
  /** Memories by id, in the order asked, skipping unknown ids. Applies no visibility filter. */
  getMany(ids: string[]): Promise<Memory[]>;
  /**
   * The vectors this store keeps for these memories, made by `modelId` from their current text
   * (an export's `include_embeddings`); a store that keeps none lacks it or leaves ids out.
   */
  storedVectors?(ids: string[], modelId: string): Promise<Map<string, Float32Array>>;
  getDoc(id: string): Promise<Uint8Array | null>;
  /** The live (not deleted) memory with this normalised content, if any. */
  findByDedupKey(key: string): Promise<Memory | null>;
  /** Ids among `ids` that some live memory supersedes. */
  supersededAmong(ids: string[]): Promise<Set<string>>;
  /** The live memories that supersede `id` (its corrections), newest first. */
  supersedersOf(id: string): Promise<string[]>;
  list(options: { filters: MemoryFilters; limit: number; cursor: string | null }): Promise<ListPage>;
  /** Nearest visible memories by cosine similarity of their current-model embedding. */
  vectorSearch(vector: Float32Array, k: number, filters: MemoryFilters): Promise<SearchHit[]>;
  /**
   * Visible memories matching any of the terms (OR), best BM25 first. With `thread`, a store
   * that keeps threads (see `threadNeighbours`) also matches a memory through its neighbours'
   * text, weighted below its own; others ignore it.
   */
  keywordSearch(
    terms: string[],
    k: number,
    filters: MemoryFilters,
    options?: { thread?: boolean },
  ): Promise<SearchHit[]>;
  stats(): Promise<StoreStats>;
  /**
   * Live memories (stats().total_memories) without holding the caller's event loop; health
   * asks it on every poll, and stats() scans several tables (~250 ms at 100k in SQLite).
   */
  countLive(): Promise<number>;
  /**
   * Memories naming any of the case-folded entity names or aliases, ranked by the share of
   * the names' idf they match (the rule of `entity-scoring.ts`, the same on every store).
   * `dropCommon` (recall's ranking) leaves out names too common in the filtered scope.
   */
  entitySearch(
    names: string[],
    k: number,
    filters: MemoryFilters,
    options?: { dropCommon?: boolean },
  ): Promise<EntityHit[]>;
  /**
   * The memories written just before and after each given one in its thread (the same
   * source_instance, each within a short gap of the last: a conversation's turns), only
   * neighbours that pass `filters`. Stores
   * without threads leave it out; recall then ranks memories alone.
   */
  threadNeighbours?(
    ids: string[],
    filters: MemoryFilters,
  ): Promise<Map<string, { prev: string | null; next: string | null }>>;
  /** Entities by how many visible memories name them (then by name), optionally by name prefix or type. */
  listEntities(options: { limit: number; prefix?: string; type?: string }): Promise<EntitySummary[]>;
  /** The canonical entities the names resolve to (by name or alias), name matches first, in the order asked. */
  resolveEntities(names: string[]): Promise<{ name: string; type: string }[]>;
  /** Entities co-occurring with each distinct entity of `names`, strongest first (then by name), `perEntity` each. */
  entityNeighbours(names: string[], perEntity: number): Promise<EntityEdge[]>;
  /** The model whose vectors the store holds, or null before the first one. */
  embeddingModel(): Promise<{ modelId: string; dims: number } | null>;
  /** Switch model: vectors of another model are dropped (to be re-embedded). */
  setEmbeddingModel(modelId: string, dims: number): Promise<void>;
  /** Vectors for memories whose content still has the hash they were computed from (others are skipped). */
  putEmbeddings(items: { id: string; embedding: StoredEmbedding }[]): Promise<void>;
  /**
   * Up to `limit` live memories lacking a vector of the current model (or whose content
   * changed since), in id order after `afterId` (a cursor: the backfill walks the table once
   * instead of rescanning embedded rows per batch).
   */
  missingEmbeddings(
    limit: number,
    afterId?: string | null,
  ): Promise<{ id: string; content: string; contentHash: string }[]>;
  countMissingEmbeddings(): Promise<number>;
  /**
   * For IDF weights: `docs`, the memory rows in the store (deleted included: a count both
   * dialects answer cheaply), and per term how many visible memories contain it.
   */
  termFrequencies(terms: string[]): Promise<{ docs: number; df: number[] }>;
  /**
   * Hard delete (GDPR): the row, its document, changes, vector and entity links, leaving no
   * copy of the text in the store's files. False when the store does not hold the memory.
   */
  purge(id: string): Promise<boolean>;
  close(): Promise<void>;
}
