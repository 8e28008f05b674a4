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
  /**
   * Optional: live memories (stats().total_memories) without holding the caller's event loop;
   * health asks it on every poll, and stats() scans several tables (~250 ms at 100k in SQLite).
   */
  countLive?(): Promise<number>;
  /**
   * Optional (stores with an entity index): memories naming any of the case-folded entity
   * names or aliases, ranked by the share of the names' idf they match. Recall runs without
   * the entity list on stores that lack it.
   */
  entitySearch?(names: string[], k: number, filters: MemoryFilters): Promise<EntityHit[]>;
  /** Optional: entities by how many memories name them, optionally by name prefix or type. */
  listEntities?(options: { limit: number; prefix?: string; type?: string }): Promise<EntitySummary[]>;
  /** Optional: the canonical entities the names resolve to (by name or alias). */
  resolveEntities?(names: string[]): Promise<{ name: string; type: string }[]>;
  /** Optional: entities co-occurring with each of `names`, strongest first, `perEntity` each. */
  entityNeighbours?(names: string[], perEntity: number): Promise<EntityEdge[]>;
  /** The model whose vectors the store holds, or null before the first one. */
  embeddingModel(): Promise<{ modelId: string; dims: number } | null>;
  /** Switch model: vectors of another model are dropped (to be re-embedded). */
  setEmbeddingModel(modelId: string, dims: number): Promise<void>;
  putEmbeddings(items: { id: string; embedding: StoredEmbedding }[]): Promise<void>;
  /** Live memories lacking a vector for the current model (or whose content changed since). */
  /**
   * Up to `limit` memories lacking a vector of the current model, in id order after `afterId`
   * (a cursor: the backfill walks the table once instead of rescanning embedded rows per batch).
   */
  missingEmbeddings(
    limit: number,
    afterId?: string | null,
  ): Promise<{ id: string; content: string; contentHash: string }[]>;
  countMissingEmbeddings(): Promise<number>;
  /** Memories in the store and how many contain each term (for IDF weights); optional. */
  termFrequencies?(terms: string[]): Promise<{ docs: number; df: number[] }>;
  close(): Promise<void>;
}
