/**
 * An embedding model. Implementations run wherever they are constructed; the daemon hosts
 * them in a worker thread (see `worker-host.ts`) so inference never blocks the event loop.
 */
export type EmbedKind = "query" | "passage";

export interface EmbeddingProvider {
  /** Stable model name stored beside every vector, e.g. `bge-small-en-v1.5`. */
  readonly modelId: string;
  readonly dims: number;
  /** True when `embed` runs off the caller's thread (a worker): work on this thread overlaps it. */
  readonly offThread?: boolean;
  /** One L2-normalised vector per text, in order. */
  embed(texts: readonly string[], kind: EmbedKind): Promise<Float32Array[]>;
  close(): Promise<void>;
}

/** A module that a worker thread can load to build a provider from plain JSON options. */
export interface EmbeddingProviderFactory {
  createProvider(options: Record<string, unknown>): Promise<EmbeddingProvider>;
}

export function l2normalize(v: Float32Array): Float32Array {
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += v[i] * v[i];
  const norm = Math.sqrt(sum);
  if (norm > 0) for (let i = 0; i < v.length; i++) v[i] /= norm;
  return v;
}
