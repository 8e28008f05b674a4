/**
 * Hosts an embedding provider in a `worker_threads` Worker, so that tokenising and inference
 * (onnxruntime's `run` is synchronous under its promise) never block the main event loop.
 *
 * Micro-batching: `embed()` calls that arrive within `maxWaitMs` of each other, or while the
 * worker is busy, are merged into one request of up to `maxBatch` texts (calls of the same
 * kind only) and the vectors are split back to each caller. One request is in flight at a
 * time: the worker runs one batch at a time anyway, and what waits on this side can still be
 * merged. Vectors come back as one transferred Float32Array buffer per request.
 *
 * Warm from the start and kept warm: a model's first runs are its slowest (USE-lite measured
 * here: 640 ms, then 50-80 ms, then ~20 ms from the fifth call on), so the worker runs a few
 * texts before it reports ready, and when it has been idle for `keepWarmMs` it runs one short
 * text again (after a minute's idle the first query took 3× the median of the next ones).
 * `stats.coldRequests` counts requests that were a worker's first model run: 0 when warm.
 */
import { Worker } from "node:worker_threads";
import { runtimeModuleUrl } from "../config/install-layout.ts";
import { ERROR_CODES, type ErrorCode, TribalError } from "../errors.ts";
import type { EmbeddingProvider, EmbedKind } from "./provider.ts";

export interface WorkerEmbedderOptions {
  /** A module exporting `createProvider(options)` (an `EmbeddingProviderFactory`), e.g. `onnx-bert.ts`. */
  moduleUrl: string | URL;
  /** Plain JSON handed to `createProvider` inside the worker. */
  options: Record<string, unknown>;
  /** Most texts merged into one worker request. Default 32. */
  maxBatch?: number;
  /** How long a call waits for others to merge with. Default 0: an idle worker starts after the
   * current event-loop turn, and calls arriving while it works merge into its next request. */
  maxWaitMs?: number;
  /** Model runs before the worker reports ready (default 4; 0 = none: the first request pays them). */
  warmupRuns?: number;
  /** An idle worker runs one short text this often, ms (default 20000; 0 = never). */
  keepWarmMs?: number;
}

export interface WorkerEmbedderStats {
  /** `embed()` calls with at least one text. */
  calls: number;
  texts: number;
  /** Requests sent to the worker; fewer than `calls` when calls were merged. */
  requests: number;
  /** Requests that were the worker's first model run (a cold start): 0 once warmed up. */
  coldRequests: number;
  /** Model runs made at start, before the worker reported ready, and how long they took. */
  warmupRuns: number;
  warmupMs: number;
  /** Short runs made while idle, to keep the model's code and memory warm. */
  keepWarmRuns: number;
}

export interface WorkerEmbedder extends EmbeddingProvider {
  readonly stats: Readonly<WorkerEmbedderStats>;
}

// ---- the protocol between this file and embed-worker.ts ----

export interface SerializedError {
  code?: string;
  message: string;
  details?: Record<string, unknown>;
  name?: string;
}

export interface EmbedWorkerData {
  moduleUrl: string;
  options: Record<string, unknown>;
  warmupRuns: number;
  keepWarmMs: number;
}

export type HostToWorker =
  | { type: "embed"; id: number; texts: string[]; kind: EmbedKind }
  | { type: "close" };

export type WorkerToHost =
  | { type: "ready"; modelId: string; dims: number; warmupRuns: number; warmupMs: number }
  | { type: "load-error"; error: SerializedError }
  | { type: "result"; id: number; vectors: Float32Array; count: number; cold: boolean }
  | { type: "kept-warm" }
  | { type: "error"; id: number; error: SerializedError }
  | { type: "closed" };

/**
 * Keeps code, message and details across the thread boundary (structured clone drops them).
 * Any error with a known `code` counts, so a TribalError from another module instance (the
 * provider module may load its own copy of errors.ts) keeps its code too.
 */
export function serializeError(err: unknown): SerializedError {
  if (err instanceof Error) {
    const { code, details } = err as Error & { code?: unknown; details?: unknown };
    if (typeof code === "string" && Object.hasOwn(ERROR_CODES, code)) {
      // JSON round trip: details must survive structured cloning, whatever they hold.
      const plainDetails =
        details && typeof details === "object"
          ? (JSON.parse(JSON.stringify(details)) as Record<string, unknown>)
          : undefined;
      return { code, message: err.message, details: plainDetails, name: err.name };
    }
    return { message: err.message, name: err.name };
  }
  return { message: String(err) };
}

export function deserializeError(error: SerializedError): Error {
  if (error.code !== undefined && Object.hasOwn(ERROR_CODES, error.code)) {
    return new TribalError(error.code as ErrorCode, error.message, error.details);
  }
  const plain = new Error(error.message);
  if (error.name) plain.name = error.name;
  return plain;
}

// ---- host ----

type ReadyMessage = Extract<WorkerToHost, { type: "ready" }>;

interface PendingCall {
  texts: readonly string[];
  kind: EmbedKind;
  resolve: (vectors: Float32Array[]) => void;
  reject: (err: Error) => void;
}

class WorkerEmbedderImpl implements WorkerEmbedder {
  readonly modelId: string;
  readonly dims: number;
  readonly offThread = true;
  readonly stats: WorkerEmbedderStats;

  readonly #worker: Worker;
  readonly #maxBatch: number;
  readonly #maxWaitMs: number;
  readonly #queues: Record<EmbedKind, PendingCall[]> = { query: [], passage: [] };
  readonly #queuedTexts: Record<EmbedKind, number> = { query: 0, passage: 0 };
  /** Which kind waits longest, so neither kind starves the other. */
  readonly #kindOrder: EmbedKind[] = [];
  /** Calls of a merged request that failed, retried one per request so only the culprit fails. */
  #solo: PendingCall[] = [];
  #inFlight: { id: number; calls: PendingCall[] } | null = null;
  #nextId = 1;
  #timer: NodeJS.Timeout | null = null;
  #immediate: NodeJS.Immediate | null = null;
  #failure: Error | null = null;
  #closing: Promise<void> | null = null;

  constructor(worker: Worker, ready: ReadyMessage, maxBatch: number, maxWaitMs: number) {
    this.#worker = worker;
    this.stats = {
      calls: 0,
      texts: 0,
      requests: 0,
      coldRequests: 0,
      warmupRuns: ready.warmupRuns,
      warmupMs: ready.warmupMs,
      keepWarmRuns: 0,
    };
    this.modelId = ready.modelId;
    this.dims = ready.dims;
    this.#maxBatch = maxBatch;
    this.#maxWaitMs = maxWaitMs;
    worker.on("message", (msg: WorkerToHost) => this.#onMessage(msg));
    worker.on("error", (err) => this.#fail(`the embedding worker crashed: ${err.message}`));
    worker.on("exit", (code) => this.#fail(`the embedding worker exited (code ${code})`));
    this.#updateRef();
  }

  embed(texts: readonly string[], kind: EmbedKind): Promise<Float32Array[]> {
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#closing)
      return Promise.reject(
        new TribalError("MODEL_UNAVAILABLE", `Embedding model ${this.modelId} is closed.`),
      );
    if (texts.length === 0) return Promise.resolve([]);
    this.stats.calls++;
    this.stats.texts += texts.length;
    return new Promise((resolve, reject) => {
      if (this.#queues[kind].length === 0) this.#kindOrder.push(kind);
      this.#queues[kind].push({ texts, kind, resolve, reject });
      this.#queuedTexts[kind] += texts.length;
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#inFlight || !this.#hasQueued()) {
      this.#updateRef();
      return;
    }
    const full =
      this.#solo.length > 0 ||
      this.#queuedTexts.query >= this.#maxBatch ||
      this.#queuedTexts.passage >= this.#maxBatch;
    if (full) this.#flush();
    else if (this.#timer === null && this.#immediate === null && this.#maxWaitMs <= 0) {
      // An idle worker starts at once (after this turn of the event loop, so calls made
      // together still merge): a 2 ms timer added 2-3 ms to every lone remember.
      this.#immediate = setImmediate(() => {
        this.#immediate = null;
        if (!this.#inFlight) this.#flush();
      });
    } else if (this.#timer === null && this.#maxWaitMs > 0) {
      this.#timer = setTimeout(() => {
        this.#timer = null;
        if (!this.#inFlight) this.#flush();
      }, this.#maxWaitMs);
    }
    this.#updateRef();
  }

  #hasQueued(): boolean {
    return this.#solo.length > 0 || this.#kindOrder.length > 0;
  }

  /** Sends the longest-waiting kind's calls, up to `maxBatch` texts (a bigger call goes alone). */
  #flush(): void {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    if (this.#immediate !== null) {
      clearImmediate(this.#immediate);
      this.#immediate = null;
    }
    const calls: PendingCall[] = [];
    const retry = this.#solo.shift();
    if (retry) calls.push(retry);
    else {
      const kind = this.#kindOrder.shift();
      if (kind === undefined) return;
      const queue = this.#queues[kind];
      let count = 0;
      while (queue.length > 0 && (calls.length === 0 || count + queue[0].texts.length <= this.#maxBatch)) {
        const call = queue.shift() as PendingCall;
        calls.push(call);
        count += call.texts.length;
      }
      this.#queuedTexts[kind] -= count;
      if (queue.length > 0) this.#kindOrder.push(kind);
    }

    const texts: string[] = [];
    for (const call of calls) for (const text of call.texts) texts.push(text);
    const id = this.#nextId++;
    this.#inFlight = { id, calls };
    this.stats.requests++;
    this.#worker.postMessage({ type: "embed", id, texts, kind: calls[0].kind } satisfies HostToWorker);
  }

  #onMessage(msg: WorkerToHost): void {
    if (msg.type === "kept-warm") this.stats.keepWarmRuns++;
    if (msg.type !== "result" && msg.type !== "error") return;
    const request = this.#inFlight;
    if (!request || request.id !== msg.id) return;
    this.#inFlight = null;
    if (msg.type === "error" && request.calls.length > 1) {
      // One caller's text may be what failed: retry each call alone before rejecting anyone.
      this.#solo.push(...request.calls);
    } else if (msg.type === "error") {
      request.calls[0].reject(deserializeError(msg.error));
    } else {
      if (msg.cold) this.stats.coldRequests++;
      const dims = msg.count > 0 ? msg.vectors.length / msg.count : this.dims;
      let row = 0;
      for (const call of request.calls) {
        const vectors: Float32Array[] = [];
        // slice(): each caller owns its vectors instead of views into one shared buffer.
        for (let i = 0; i < call.texts.length; i++, row++)
          vectors.push(msg.vectors.slice(row * dims, (row + 1) * dims));
        call.resolve(vectors);
      }
    }
    // What queued meanwhile has waited at least one model run: send it now.
    if (this.#hasQueued() && !this.#closing) this.#flush();
    this.#updateRef();
  }

  /** Keeps the process alive only while work is pending, so a forgotten embedder cannot hang exit. */
  #updateRef(): void {
    if (this.#inFlight || this.#hasQueued()) this.#worker.ref();
    else this.#worker.unref();
  }

  #fail(reason: string): void {
    if (this.#failure) return;
    this.#failure = new TribalError(
      "MODEL_UNAVAILABLE",
      `Embedding model ${this.modelId} is unavailable: ${reason}.`,
    );
    if (this.#closing)
      this.#failure = new TribalError("MODEL_UNAVAILABLE", `Embedding model ${this.modelId} is closed.`);
    this.#rejectAll(this.#failure);
  }

  #rejectAll(err: Error): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    const calls = [
      ...(this.#inFlight?.calls ?? []),
      ...this.#solo,
      ...this.#queues.query,
      ...this.#queues.passage,
    ];
    this.#inFlight = null;
    this.#solo = [];
    this.#queues.query = [];
    this.#queues.passage = [];
    this.#queuedTexts.query = 0;
    this.#queuedTexts.passage = 0;
    this.#kindOrder.length = 0;
    for (const call of calls) call.reject(err);
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#rejectAll(new TribalError("MODEL_UNAVAILABLE", `Embedding model ${this.modelId} is closed.`));
    if (this.#failure) return; // the worker is gone already
    this.#worker.ref();
    // Let the provider release its session; terminate regardless after a grace period.
    const closed = new Promise<void>((resolve) => {
      const onMessage = (msg: WorkerToHost) => msg.type === "closed" && resolve();
      this.#worker.on("message", onMessage);
      this.#worker.once("exit", () => resolve());
      setTimeout(resolve, 2000).unref();
    });
    this.#worker.postMessage({ type: "close" } satisfies HostToWorker);
    await closed;
    await this.#worker.terminate();
  }
}

/**
 * Starts a worker that loads `moduleUrl` and calls its `createProvider(options)`. Resolves once
 * the model is loaded and warmed up (with its `modelId` and `dims`); a loading failure (missing file, wrong
 * checksum, …) rejects with the provider's TribalError.
 */
export async function createWorkerEmbedder(opts: WorkerEmbedderOptions): Promise<WorkerEmbedder> {
  const moduleUrl = typeof opts.moduleUrl === "string" ? opts.moduleUrl : opts.moduleUrl.href;
  const worker = new Worker(runtimeModuleUrl(new URL("./embed-worker.ts", import.meta.url)), {
    workerData: {
      moduleUrl,
      options: opts.options,
      warmupRuns: opts.warmupRuns ?? 4,
      keepWarmMs: opts.keepWarmMs ?? 20_000,
    } satisfies EmbedWorkerData,
  });
  const ready = await new Promise<ReadyMessage>((resolve, reject) => {
    const cleanup = () => {
      worker.off("message", onMessage);
      worker.off("error", onError);
      worker.off("exit", onExit);
    };
    const onMessage = (msg: WorkerToHost) => {
      if (msg.type === "ready") {
        cleanup();
        resolve(msg);
      } else if (msg.type === "load-error") {
        cleanup();
        reject(deserializeError(msg.error));
        void worker.terminate();
      }
    };
    const onError = (err: Error) => {
      cleanup();
      reject(
        new TribalError(
          "MODEL_UNAVAILABLE",
          `The embedding worker failed while loading ${moduleUrl}: ${err.message}`,
        ),
      );
      void worker.terminate();
    };
    const onExit = (code: number) => {
      cleanup();
      reject(
        new TribalError(
          "MODEL_UNAVAILABLE",
          `The embedding worker exited (code ${code}) while loading ${moduleUrl}.`,
        ),
      );
    };
    worker.on("message", onMessage);
    worker.on("error", onError);
    worker.on("exit", onExit);
  });
  return new WorkerEmbedderImpl(worker, ready, opts.maxBatch ?? 32, opts.maxWaitMs ?? 0);
}
