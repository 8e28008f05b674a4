import type { EmbeddingProvider } from "../embed/provider.ts";
import { type QueryCacheOptions, type QueryCacheStats, QueryEmbeddingCache } from "../embed/query-cache.ts";
import type { WorkerEmbedder } from "../embed/worker-host.ts";

export interface EmbeddingCallStats {
  /** Query vectors asked for (recall), however they were answered. */
  queries: number;
  /** Query texts sent to the model: misses that were not already being embedded. */
  query_model_calls: number;
  /** Concurrent recalls of one text that waited for the same model call. */
  query_shared_calls: number;
  /** Calls embedding memories (remember, edit, import). */
  passage_model_calls: number;
  failures: number;
  query_cache: QueryCacheStats;
}

/**
 * The service's calls to its model. A model that fails (an embedding endpoint down, a worker
 * crash) leaves memories without vectors and recall keyword-only rather than failing the
 * request: the backfill embeds them once the model answers again.
 */
export class EmbeddingCalls {
  readonly queryCache: QueryEmbeddingCache;
  /** Queries being embedded now: a second recall of the same text waits for the same call. */
  private readonly inFlight = new Map<string, Promise<Float32Array | null>>();
  private readonly counts = {
    queries: 0,
    queryModelCalls: 0,
    querySharedCalls: 0,
    passageCalls: 0,
    failures: 0,
  };
  /** Hears each failure (the daemon logs it). */
  onError: (err: Error, kind: "query" | "passage") => void = () => {};

  constructor(cache: QueryCacheOptions = {}) {
    this.queryCache = new QueryEmbeddingCache(cache);
  }

  /** The query's vector (cached per model, query-cache.ts), or null when the model fails. */
  query(provider: EmbeddingProvider, text: string): Promise<Float32Array | null> {
    this.counts.queries++;
    const hit = this.queryCache.get(provider.modelId, text);
    if (hit) return Promise.resolve(hit);
    const key = `${provider.modelId}\u0000${text}`;
    const pending = this.inFlight.get(key);
    if (pending) {
      this.counts.querySharedCalls++;
      return pending;
    }
    this.counts.queryModelCalls++;
    const call = provider.embed([text], "query").then(
      ([v]) => {
        this.queryCache.set(provider.modelId, text, v);
        return v;
      },
      (err: unknown) => {
        this.counts.failures++;
        this.onError(err as Error, "query");
        return null;
      },
    );
    this.inFlight.set(key, call);
    void call.finally(() => this.inFlight.delete(key));
    return call;
  }

  /** Vectors for contents; nulls when the model fails (backfilled later). */
  async passages(provider: EmbeddingProvider, contents: string[]): Promise<(Float32Array | null)[]> {
    this.counts.passageCalls++;
    try {
      return await provider.embed(contents, "passage");
    } catch (err) {
      this.counts.failures++;
      this.onError(err as Error, "passage");
      return contents.map(() => null);
    }
  }

  stats(): EmbeddingCallStats {
    return {
      queries: this.counts.queries,
      query_model_calls: this.counts.queryModelCalls,
      query_shared_calls: this.counts.querySharedCalls,
      passage_model_calls: this.counts.passageCalls,
      failures: this.counts.failures,
      query_cache: this.queryCache.stats(),
    };
  }
}

/** The model's side of health: calls and cache, and the worker's warmth when it runs in one. */
export function embeddingHealth(calls: EmbeddingCalls, provider: EmbeddingProvider | null) {
  const worker = provider && "stats" in provider ? (provider as WorkerEmbedder).stats : null;
  return {
    ...calls.stats(),
    worker: worker
      ? {
          requests: worker.requests,
          cold_requests: worker.coldRequests,
          warmup_runs: worker.warmupRuns,
          warmup_ms: worker.warmupMs,
          keep_warm_runs: worker.keepWarmRuns,
        }
      : null,
  };
}
