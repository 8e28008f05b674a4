/**
 * The query-embedding cache: an LRU of query vectors keyed by model id and the query's exact
 * text, bounded by entries and by bytes (a 512-d vector is 2 KiB; the key's text counts too,
 * so a few long queries cannot hold more memory than the bound says). A hit is not a model
 * call: agents repeat their questions (a tool retried, the same recall on every turn), and the
 * model's own cost is most of a recall's (USE-lite: 16.6 ms of a 22 ms HTTP recall on LoCoMo).
 *
 * Vectors of another model are never returned: the cache holds one model's vectors at a time,
 * and a call naming another model (`useModel`) drops them all first.
 *
 * One cache per memory service: the daemon has one; the relay one per open workspace, so a
 * workspace never learns from a fast answer what another one asked. The default bound (1,024
 * queries, 4 MiB: ~2 MiB of 512-d vectors) keeps that no larger than the 512-entry map it
 * replaced held with 1536-d vectors.
 */

export interface QueryCacheOptions {
  /** Most vectors kept (default 1024). */
  maxEntries?: number;
  /** Most bytes of vectors and keys kept (default 4 MiB). */
  maxBytes?: number;
}

export interface QueryCacheStats {
  hits: number;
  misses: number;
  evictions: number;
  entries: number;
  bytes: number;
  max_entries: number;
  max_bytes: number;
}

interface Entry {
  vector: Float32Array;
  bytes: number;
}

export class QueryEmbeddingCache {
  readonly maxEntries: number;
  readonly maxBytes: number;
  /** Insertion order is recency order: a hit moves its key to the end. */
  private readonly entries = new Map<string, Entry>();
  private model: string | null = null;
  private bytes = 0;
  private hits = 0;
  private misses = 0;
  private evictions = 0;

  constructor(options: QueryCacheOptions = {}) {
    this.maxEntries = Math.max(0, options.maxEntries ?? 1024);
    this.maxBytes = Math.max(0, options.maxBytes ?? 4 * 1024 * 1024);
  }

  /** The model whose vectors this cache holds; a different one empties it. */
  useModel(modelId: string): void {
    if (this.model === modelId) return;
    this.model = modelId;
    this.entries.clear();
    this.bytes = 0;
  }

  /** The cached vector of `text` for `modelId` (counted as a hit or a miss). */
  get(modelId: string, text: string): Float32Array | undefined {
    this.useModel(modelId);
    const entry = this.entries.get(text);
    if (!entry) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.entries.delete(text);
    this.entries.set(text, entry);
    return entry.vector;
  }

  set(modelId: string, text: string, vector: Float32Array): void {
    this.useModel(modelId);
    // UTF-16 code units of the key, the vector's buffer, and a rough per-entry overhead.
    const bytes = text.length * 2 + vector.byteLength + 64;
    if (bytes > this.maxBytes || this.maxEntries === 0) return;
    const old = this.entries.get(text);
    if (old) {
      this.entries.delete(text);
      this.bytes -= old.bytes;
    }
    this.entries.set(text, { vector, bytes });
    this.bytes += bytes;
    while (this.entries.size > this.maxEntries || this.bytes > this.maxBytes) {
      const [oldest, entry] = this.entries.entries().next().value as [string, Entry];
      this.entries.delete(oldest);
      this.bytes -= entry.bytes;
      this.evictions++;
    }
  }

  stats(): QueryCacheStats {
    return {
      hits: this.hits,
      misses: this.misses,
      evictions: this.evictions,
      entries: this.entries.size,
      bytes: this.bytes,
      max_entries: this.maxEntries,
      max_bytes: this.maxBytes,
    };
  }
}
