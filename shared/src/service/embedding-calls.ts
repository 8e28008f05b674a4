import type { EmbeddingProvider } from "../embed/provider.ts";

/**
 * The service's calls to its model. A model that fails (an embedding endpoint down, a worker
 * crash) leaves memories without vectors and recall keyword-only rather than failing the
 * request: the backfill embeds them once the model answers again.
 */
export class EmbeddingCalls {
  private readonly queryCache = new Map<string, Float32Array>();
  /** Hears each failure (the daemon logs it). */
  onError: (err: Error, kind: "query" | "passage") => void = () => {};

  /** The query's vector (the last 512 queries cached per model), or null when the model fails. */
  async query(provider: EmbeddingProvider, text: string): Promise<Float32Array | null> {
    const key = `${provider.modelId}\u0000${text}`;
    const hit = this.queryCache.get(key);
    if (hit) return hit;
    try {
      const [v] = await provider.embed([text], "query");
      this.queryCache.set(key, v);
      if (this.queryCache.size > 512) this.queryCache.delete(this.queryCache.keys().next().value as string);
      return v;
    } catch (err) {
      this.onError(err as Error, "query");
      return null;
    }
  }

  /** Vectors for contents; nulls when the model fails (backfilled later). */
  async passages(provider: EmbeddingProvider, contents: string[]): Promise<(Float32Array | null)[]> {
    try {
      return await provider.embed(contents, "passage");
    } catch (err) {
      this.onError(err as Error, "passage");
      return contents.map(() => null);
    }
  }
}
