/**
 * BERT-style sentence embeddings (bge-small-en-v1.5 by default) through onnxruntime-node.
 *
 * Dynamic padding: a run is padded only to its longest text, and a large batch is sorted by
 * length and cut into sub-batches (at most `maxBatch` texts and `maxBatchTokens` padded tokens)
 * so short texts are not padded to long ones. Measured (DESIGN.md): padding every text to 512
 * tokens, as fastembed-js does, gives 1.6 texts/s and 8 GB RSS for 256 texts; this gives
 * 60–195 texts/s at 0.4 GB.
 *
 * Pooling is the CLS token (position 0 of `last_hidden_state`), L2-normalised, as bge does.
 * `session.run` is synchronous under its promise, so the daemon hosts this provider in a
 * worker thread (`worker-host.ts`); `createProvider` builds it there from JSON options.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { readFile, stat, writeFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { basename, join } from "node:path";
import { InferenceSession, Tensor } from "onnxruntime-node";
import { z } from "zod";
import { installFile } from "../config/install-layout.ts";
import { TribalError } from "../errors.ts";
import { type BertTokenizer, loadBertTokenizer } from "./bert-tokenizer.ts";
import { type EmbeddingProvider, type EmbedKind, l2normalize } from "./provider.ts";

/** The pinned default model: the int8 ONNX export of BAAI/bge-small-en-v1.5. */
export const BGE_SMALL_EN_V15 = {
  modelId: "bge-small-en-v1.5",
  dims: 384,
  fileName: "model_quantized.onnx",
  bytes: 34_014_426,
  sha256: "6c9c6101a956d62dfb5e7190c538226c0c5bb9cb27b651234b6df063ee7dbfe4",
  queryPrefix: "Represent this sentence for searching relevant passages: ",
} as const;

/** The real bge-small-en-v1.5 tokenizer files that ship in the repository. */
export const BGE_TOKENIZER_DIR = installFile("shared/models/bge-small-en-v1.5/");

export interface OnnxBertOptions {
  /** The `.onnx` file. */
  modelPath: string;
  /** Folder with `vocab.txt` (and optionally `tokenizer_config.json`). Default `BGE_TOKENIZER_DIR`. */
  tokenizerDir?: string;
  /** SHA-256 the model file must have. Default: the pinned bge-small-en-v1.5 int8 sum. */
  expectedSha256?: string;
  /** Stored beside every vector. Default `bge-small-en-v1.5`. */
  modelId?: string;
  /** Expected vector size; checked against the model's output at load. */
  dims?: number;
  /** Prepended to `query` texts; `null` or `""` turns it off. Default: bge's instruction. */
  queryPrefix?: string | null;
  /** onnxruntime intra-op threads. Default: one core left to the main thread, at most 2 (1 on 2 cores). */
  threads?: number;
  /** Most texts per model run. Default 32. */
  maxBatch?: number;
  /**
   * Most padded tokens (texts × longest text) per model run. Default 512: bigger runs are
   * slower, not faster, as the [batch, heads, seq, seq] attention tensors leave the caches
   * (bge-small shape, 64 mixed texts, 1 thread: 6.4 s at 512, 8.7 s at 2048, 15 s at 8192;
   * peak RSS 361 / 535 / 799 MiB).
   */
  maxBatchTokens?: number;
  /** Most tokens per text, `[CLS]`/`[SEP]` included. Default: the tokenizer's (512). */
  maxLength?: number;
}

export interface ModelFileCheck {
  sha256: string;
  bytes: number;
  /** True when the sum came from the `.sha256-verified` sidecar instead of hashing. */
  cached: boolean;
}

const SIDECAR_SUFFIX = ".sha256-verified";

interface VerifiedSidecar {
  bytes: number;
  mtimeMs: number;
  sha256: string;
}

async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/**
 * Checks that `modelPath` exists and has the SHA-256 `expectedSha256`, hashing it by streaming.
 * A match is remembered in `<modelPath>.sha256-verified` (keyed on size and mtime), so a
 * restart does not rehash the file; a changed file is hashed again.
 */
export async function verifyModelFile(modelPath: string, expectedSha256: string): Promise<ModelFileCheck> {
  const expected = expectedSha256.toLowerCase();
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(modelPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    throw new TribalError(
      "MODEL_FILE_MISSING",
      `Embedding model file not found: ${modelPath}. Fetch ${basename(modelPath)} (sha256 ${expected}) ` +
        "on a machine with internet and place it there, or point the embedding model path in the config at a copy. " +
        "Keyword recall works meanwhile.",
      { path: modelPath, expectedSha256: expected },
    );
  }
  if (!info.isFile()) {
    throw new TribalError(
      "MODEL_FILE_MISSING",
      `Embedding model path is not a file: ${modelPath}. Point it at the .onnx file.`,
      {
        path: modelPath,
        expectedSha256: expected,
      },
    );
  }

  const sidecarPath = modelPath + SIDECAR_SUFFIX;
  let actual: string | null = null;
  try {
    const sidecar = JSON.parse(await readFile(sidecarPath, "utf8")) as VerifiedSidecar;
    if (
      sidecar.bytes === info.size &&
      sidecar.mtimeMs === info.mtimeMs &&
      typeof sidecar.sha256 === "string"
    ) {
      actual = sidecar.sha256;
    }
  } catch {
    // No sidecar, or an unreadable one: hash the file.
  }
  const cached = actual !== null;
  if (actual === null) actual = await sha256OfFile(modelPath);

  if (actual !== expected) {
    throw new TribalError(
      "MODEL_CHECKSUM_MISMATCH",
      `Embedding model file ${modelPath} has sha256 ${actual}, expected ${expected}: a corrupt or wrong download. ` +
        "Delete it and fetch the file again.",
      { path: modelPath, expectedSha256: expected, actualSha256: actual, bytes: info.size },
    );
  }
  if (!cached) {
    const record: VerifiedSidecar = { bytes: info.size, mtimeMs: info.mtimeMs, sha256: actual };
    // A read-only model folder only costs a rehash at the next start.
    await writeFile(sidecarPath, `${JSON.stringify(record)}\n`).catch(() => undefined);
  }
  return { sha256: actual, bytes: info.size, cached };
}

function defaultThreads(): number {
  return Math.min(2, Math.max(1, availableParallelism() - 1));
}

/** Copies `values` into an int64 tensor's storage without a BigInt per element (little-endian). */
function setInt64(target: BigInt64Array, offset: number, values: readonly number[]): void {
  const low32 = new Int32Array(target.buffer, target.byteOffset, target.length * 2);
  for (let i = 0; i < values.length; i++) low32[(offset + i) * 2] = values[i];
}

/** Groups indices (sorted by decreasing length) into runs that respect both batch limits. */
export function planSubBatches(
  lengths: readonly number[],
  maxBatch: number,
  maxBatchTokens: number,
): number[][] {
  const order = lengths.map((_, i) => i).sort((a, b) => lengths[b] - lengths[a] || a - b);
  const batches: number[][] = [];
  let current: number[] = [];
  let padTo = 0;
  for (const index of order) {
    if (current.length === 0) padTo = lengths[index];
    else if (current.length >= maxBatch || (current.length + 1) * padTo > maxBatchTokens) {
      batches.push(current);
      current = [];
      padTo = lengths[index];
    }
    current.push(index);
  }
  if (current.length) batches.push(current);
  return batches;
}

export class OnnxBertProvider implements EmbeddingProvider {
  readonly modelId: string;
  readonly tokenizer: BertTokenizer;
  /** Model runs so far (one per sub-batch). */
  runs = 0;

  readonly #session: InferenceSession;
  readonly #queryPrefix: string;
  readonly #maxBatch: number;
  readonly #maxBatchTokens: number;
  readonly #maxLength: number;
  readonly #hasTokenTypes: boolean;
  readonly #outputName: string;
  #dims: number;
  #closed = false;

  constructor(session: InferenceSession, tokenizer: BertTokenizer, options: OnnxBertOptions) {
    this.#session = session;
    this.tokenizer = tokenizer;
    this.modelId = options.modelId ?? BGE_SMALL_EN_V15.modelId;
    this.#dims = 0; // known after the first run
    this.#queryPrefix =
      options.queryPrefix === undefined ? BGE_SMALL_EN_V15.queryPrefix : (options.queryPrefix ?? "");
    this.#maxBatch = options.maxBatch ?? 32;
    this.#maxBatchTokens = options.maxBatchTokens ?? 512;
    this.#maxLength = options.maxLength ?? tokenizer.maxLength;
    this.#hasTokenTypes = session.inputNames.includes("token_type_ids");
    this.#outputName = session.outputNames.includes("last_hidden_state")
      ? "last_hidden_state"
      : session.outputNames[0];
  }

  get dims(): number {
    return this.#dims;
  }

  async embed(texts: readonly string[], kind: EmbedKind): Promise<Float32Array[]> {
    if (this.#closed)
      throw new TribalError("MODEL_UNAVAILABLE", `Embedding model ${this.modelId} is closed.`);
    if (texts.length === 0) return [];
    const prefix = kind === "query" ? this.#queryPrefix : "";
    const encoded = texts.map((text) => this.tokenizer.encode(prefix + text, this.#maxLength).ids);
    const result = new Array<Float32Array>(texts.length);
    const batches = planSubBatches(
      encoded.map((ids) => ids.length),
      this.#maxBatch,
      this.#maxBatchTokens,
    );
    for (const batch of batches) {
      const vectors = await this.#run(batch.map((i) => encoded[i]));
      for (let k = 0; k < batch.length; k++) result[batch[k]] = vectors[k];
    }
    return result;
  }

  async #run(rows: readonly (readonly number[])[]): Promise<Float32Array[]> {
    const b = rows.length;
    let padTo = 0;
    for (const ids of rows) padTo = Math.max(padTo, ids.length);
    const inputIds = new BigInt64Array(b * padTo); // zero = [PAD]
    const mask = new BigInt64Array(b * padTo);
    for (let r = 0; r < b; r++) {
      setInt64(inputIds, r * padTo, rows[r]);
      setInt64(mask, r * padTo, new Array<number>(rows[r].length).fill(1));
    }
    if (this.tokenizer.padId !== 0) {
      for (let r = 0; r < b; r++)
        for (let j = rows[r].length; j < padTo; j++) inputIds[r * padTo + j] = BigInt(this.tokenizer.padId);
    }
    const feeds: Record<string, Tensor> = {
      input_ids: new Tensor("int64", inputIds, [b, padTo]),
      attention_mask: new Tensor("int64", mask, [b, padTo]),
    };
    if (this.#hasTokenTypes)
      feeds.token_type_ids = new Tensor("int64", new BigInt64Array(b * padTo), [b, padTo]);

    const output = (await this.#session.run(feeds))[this.#outputName];
    this.runs++;
    const data = output.data as Float32Array;
    const hidden = output.dims[output.dims.length - 1];
    this.#dims = hidden;
    // [batch, seq, hidden]: CLS is token 0 of each row; a [batch, hidden] output is already pooled.
    const rowStride = output.dims.length === 3 ? output.dims[1] * hidden : hidden;
    const vectors: Float32Array[] = [];
    for (let r = 0; r < b; r++) vectors.push(l2normalize(data.slice(r * rowStride, r * rowStride + hidden)));
    return vectors;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#session.release();
  }
}

/** Verifies the model file, loads tokenizer and session, and checks the output size with one run. */
export async function createOnnxBertProvider(options: OnnxBertOptions): Promise<OnnxBertProvider> {
  const expectedSha256 = options.expectedSha256 ?? BGE_SMALL_EN_V15.sha256;
  const tokenizerDir = options.tokenizerDir ?? BGE_TOKENIZER_DIR;
  await verifyModelFile(options.modelPath, expectedSha256);

  let tokenizer: BertTokenizer;
  try {
    tokenizer = await loadBertTokenizer(tokenizerDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    const vocabPath = join(tokenizerDir, "vocab.txt");
    throw new TribalError(
      "MODEL_FILE_MISSING",
      `Tokenizer vocabulary not found: ${vocabPath}. It ships in shared/models/${BGE_SMALL_EN_V15.modelId}/; ` +
        "point the tokenizer folder in the config there.",
      { path: vocabPath },
    );
  }

  let session: InferenceSession;
  try {
    // Measured on the bge-small-shape int8 model (2 shared cores, 1 × 52 tokens and sub-batches of
    // 10 and 32 × 48 tokens, CPU per run, medians of 9 interleaved rounds):
    session = await InferenceSession.create(options.modelPath, {
      executionProviders: ["cpu"],
      // 2 threads only where a core is left to the main thread; on 2 cores 2 threads cost more
      // CPU (12.8 vs 10.7 ms per single text) and lower throughput (49 vs 76 texts/s).
      intraOpNumThreads: options.threads ?? defaultThreads(),
      // A BERT graph is one chain of ops: "parallel" mode has nothing to overlap and its inter-op
      // pool cost 2.7× the CPU (28.7 vs 10.7 ms per single text).
      interOpNumThreads: 1,
      executionMode: "sequential",
      // "extended" and above fuse DynamicQuantizeLinear + MatMulInteger into DynamicQuantizeMatMul,
      // GELU and LayerNorm: "basic" took 20% more CPU per single text and gave 40% fewer texts/s.
      // "all" measured the same as "extended".
      graphOptimizationLevel: "all",
      // The arena (onnxruntime's default, kept explicit) reuses buffers between runs: without it
      // 10% more CPU per text. The memory pattern (default on) made no measurable difference.
      enableCpuMemArena: true,
      // Idle pool threads would otherwise spin on the core that the main thread needs (2 threads
      // with spinning: single-text p50 52 vs 30 ms under load).
      extra: { session: { intra_op: { allow_spinning: "0" } } },
    });
  } catch (err) {
    throw new TribalError(
      "MODEL_UNAVAILABLE",
      `onnxruntime could not load ${options.modelPath}: ${(err as Error).message}`,
      {
        path: options.modelPath,
      },
    );
  }
  for (const name of ["input_ids", "attention_mask"]) {
    if (!session.inputNames.includes(name)) {
      await session.release();
      throw new TribalError(
        "MODEL_UNAVAILABLE",
        `Model ${options.modelPath} has no input "${name}"; it is not a BERT encoder export.`,
        {
          path: options.modelPath,
          inputs: session.inputNames,
        },
      );
    }
  }

  const provider = new OnnxBertProvider(session, tokenizer, options);
  const [probe] = await provider.embed(["warm up"], "passage");
  if (options.dims !== undefined && probe.length !== options.dims) {
    await provider.close();
    throw new TribalError(
      "MODEL_UNAVAILABLE",
      `Model ${options.modelPath} gives ${probe.length}-dimensional vectors; the config expects ${options.dims}.`,
      { path: options.modelPath, dims: probe.length, expectedDims: options.dims },
    );
  }
  return provider;
}

const optionsSchema = z.object({
  modelPath: z.string().min(1),
  tokenizerDir: z.string().min(1).optional(),
  expectedSha256: z
    .string()
    .regex(/^[0-9a-fA-F]{64}$/)
    .optional(),
  modelId: z.string().min(1).optional(),
  dims: z.number().int().positive().optional(),
  queryPrefix: z.string().nullable().optional(),
  threads: z.number().int().min(1).max(64).optional(),
  maxBatch: z.number().int().min(1).optional(),
  maxBatchTokens: z.number().int().min(1).optional(),
  maxLength: z.number().int().min(2).max(512).optional(),
});

/** `EmbeddingProviderFactory` entry: builds the provider from plain JSON (e.g. in a worker). */
export async function createProvider(options: Record<string, unknown>): Promise<EmbeddingProvider> {
  const parsed = optionsSchema.safeParse(options);
  if (!parsed.success) {
    throw new TribalError("VALIDATION_FAILED", "Invalid ONNX embedding options.", {
      issues: parsed.error.issues.map((issue) => ({ path: issue.path.join("."), message: issue.message })),
    });
  }
  return createOnnxBertProvider(parsed.data);
}
