/**
 * Embeddings from any OpenAI-compatible `POST /v1/embeddings` endpoint: OpenAI itself, Ollama,
 * LM Studio, vLLM, text-embeddings-inference. The request is `{model, input: [...]}` and the
 * answer `{object: "list", data: [{object: "embedding", index, embedding: [...]}], model, usage}`.
 *
 * The work is network I/O, so this provider runs on the main thread (no worker). Texts go in
 * batches of at most `maxBatch` inputs; 429, 5xx, timeouts and network errors are retried with
 * exponential backoff and full jitter (Retry-After honoured, capped), so a rate-limited endpoint
 * slows a backfill down instead of failing it. The vector size is learned by one probe call at
 * start, so a model swap behind the same name (another size) is noticed as a model change.
 */
import { z } from "zod";
import { TribalError } from "../errors.ts";
import { type EmbeddingProvider, type EmbedKind, l2normalize } from "./provider.ts";

export interface OpenAiEmbedderOptions {
  /** `https://api.openai.com/v1`, `http://127.0.0.1:11434/v1` (Ollama) …; a URL ending in `/embeddings` is used as is. */
  baseUrl: string;
  /** The endpoint's model name, sent as `model`. */
  model: string;
  /** Sent as `Authorization: Bearer …` when set (Ollama and local servers need none). Never logged. */
  apiKey?: string | null;
  /** Stored beside every vector; default `model`. */
  modelId?: string;
  /** Asked of the endpoint as `dimensions` (OpenAI text-embedding-3 can shorten); checked at start. */
  dimensions?: number | null;
  /** Most inputs per request. Default 64 (OpenAI takes 2048; local servers are happier with fewer). */
  maxBatch?: number;
  /** Per request, ms. Default 30 s. */
  timeoutMs?: number;
  /** Retries after the first try on 429/5xx/timeouts/network errors. Default 5. */
  maxRetries?: number;
  /** First backoff, ms (doubled per retry, jittered). Default 500. */
  backoffMs?: number;
  /** Longest wait between tries, Retry-After included, ms. Default 30 s. */
  maxBackoffMs?: number;
  /** Prepended to query / passage texts (models trained with instructions, e.g. nomic-embed-text). */
  queryPrefix?: string;
  passagePrefix?: string;
}

const EmbeddingsResponse = z.object({
  data: z
    .array(
      z.object({
        index: z.number().int().min(0).optional(),
        embedding: z.array(z.number()).min(1),
      }),
    )
    .min(1),
});

/** `base_url` → the embeddings URL: `…/v1` gets `/embeddings`, a bare host gets `/v1/embeddings`. */
export function embeddingsUrl(baseUrl: string): string {
  const url = new URL(baseUrl);
  const path = url.pathname.replace(/\/+$/, "");
  if (path.endsWith("/embeddings")) url.pathname = path;
  else if (path === "") url.pathname = "/v1/embeddings";
  else url.pathname = `${path}/embeddings`;
  return url.toString();
}

/** Retry-After as seconds or an HTTP date → ms from now; null when absent or unreadable. */
export function retryAfterMs(header: string | null, now = Date.now()): number | null {
  if (!header) return null;
  const seconds = Number(header.trim());
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

/** A try that may succeed if repeated (429, 5xx, timeout, network). */
class RetryableFailure extends Error {
  readonly waitMs: number | null;
  readonly timedOut: boolean;
  constructor(message: string, waitMs: number | null, timedOut = false) {
    super(message);
    this.waitMs = waitMs;
    this.timedOut = timedOut;
  }
}

export class OpenAiEmbedder implements EmbeddingProvider {
  readonly modelId: string;
  readonly url: string;
  /** HTTP requests made so far (retries included): tests and logs read it. */
  requests = 0;
  #dims = 0;
  #closed = false;
  readonly #o: Required<Omit<OpenAiEmbedderOptions, "apiKey" | "modelId" | "dimensions">> & {
    apiKey: string | null;
    dimensions: number | null;
  };

  constructor(options: OpenAiEmbedderOptions) {
    this.url = embeddingsUrl(options.baseUrl);
    this.modelId = options.modelId ?? options.model;
    this.#o = {
      baseUrl: options.baseUrl,
      model: options.model,
      apiKey: options.apiKey ?? null,
      dimensions: options.dimensions ?? null,
      maxBatch: options.maxBatch ?? 64,
      timeoutMs: options.timeoutMs ?? 30_000,
      maxRetries: options.maxRetries ?? 5,
      backoffMs: options.backoffMs ?? 500,
      maxBackoffMs: options.maxBackoffMs ?? 30_000,
      queryPrefix: options.queryPrefix ?? "",
      passagePrefix: options.passagePrefix ?? "",
    };
  }

  get dims(): number {
    return this.#dims;
  }

  /** One call to learn the vector size; fails with the endpoint's error (bad key, wrong model). */
  async probe(): Promise<number> {
    const [v] = await this.#request(["dimension probe"]);
    if (this.#o.dimensions !== null && v.length !== this.#o.dimensions) {
      throw new TribalError(
        "EMBEDDING_ENDPOINT_REJECTED",
        `Model ${this.#o.model} at ${this.url} gives ${v.length}-dimensional vectors; embedding.dimensions asks for ` +
          `${this.#o.dimensions}. Drop embedding.dimensions or use a model that supports it.`,
        { url: this.url, dims: v.length, expectedDims: this.#o.dimensions },
      );
    }
    this.#dims = v.length;
    return v.length;
  }

  async embed(texts: readonly string[], kind: EmbedKind): Promise<Float32Array[]> {
    if (this.#closed)
      throw new TribalError("MODEL_UNAVAILABLE", `Embedding model ${this.modelId} is closed.`);
    const prefix = kind === "query" ? this.#o.queryPrefix : this.#o.passagePrefix;
    const out: Float32Array[] = [];
    for (let i = 0; i < texts.length; i += this.#o.maxBatch) {
      const batch = texts.slice(i, i + this.#o.maxBatch);
      out.push(...(await this.#request(prefix ? batch.map((t) => prefix + t) : batch)));
    }
    return out;
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  async #request(input: readonly string[]): Promise<Float32Array[]> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.#tryOnce(input);
      } catch (err) {
        if (!(err instanceof RetryableFailure)) throw err;
        if (attempt >= this.#o.maxRetries) {
          throw new TribalError(
            "EMBEDDING_ENDPOINT_UNAVAILABLE",
            `Embeddings endpoint ${this.url} failed ${attempt + 1} times, last: ${err.message}. ` +
              "Check that the server runs and that embedding.base_url points at it.",
            { url: this.url, tries: attempt + 1, timedOut: err.timedOut },
          );
        }
        const ceiling = Math.min(this.#o.maxBackoffMs, this.#o.backoffMs * 2 ** attempt);
        const wait =
          err.waitMs !== null ? Math.min(this.#o.maxBackoffMs, err.waitMs) : Math.random() * ceiling;
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  async #tryOnce(input: readonly string[]): Promise<Float32Array[]> {
    this.requests++;
    const headers: Record<string, string> = {
      "content-type": "application/json",
      accept: "application/json",
    };
    if (this.#o.apiKey) headers.authorization = `Bearer ${this.#o.apiKey}`;
    const body = JSON.stringify({
      model: this.#o.model,
      input,
      ...(this.#o.dimensions !== null ? { dimensions: this.#o.dimensions } : {}),
    });
    let res: Response;
    let text: string;
    try {
      // The timeout covers the body too: a server that sends headers and then stalls is a timeout.
      const signal = AbortSignal.timeout(this.#o.timeoutMs);
      res = await fetch(this.url, { method: "POST", headers, body, signal });
      text = await res.text();
    } catch (err) {
      const e = err as Error & { cause?: { code?: string; message?: string } };
      if (e.name === "TimeoutError" || e.name === "AbortError") {
        throw new RetryableFailure(`no answer within ${this.#o.timeoutMs} ms`, null, true);
      }
      throw new RetryableFailure(e.cause?.code ?? e.cause?.message ?? e.message, null);
    }
    if (res.status === 429 || res.status >= 500) {
      throw new RetryableFailure(
        `HTTP ${res.status} ${serverMessage(text)}`.trim(),
        retryAfterMs(res.headers.get("retry-after")),
      );
    }
    if (res.status === 401 || res.status === 403) {
      throw new TribalError(
        "EMBEDDING_ENDPOINT_AUTH_FAILED",
        `Embeddings endpoint ${this.url} refused the request (HTTP ${res.status}${
          this.#o.apiKey ? ": the API key was not accepted" : ": it needs an API key"
        }). Set TRIBAL_MEMORY_EMBEDDING_API_KEY (or OPENAI_API_KEY) to a key it accepts, then restart.`,
        { url: this.url, status: res.status },
      );
    }
    if (!res.ok) {
      throw new TribalError(
        "EMBEDDING_ENDPOINT_REJECTED",
        `Embeddings endpoint ${this.url} answered HTTP ${res.status} for model ${this.#o.model}: ${serverMessage(text)} ` +
          "Check embedding.model (the name the server lists) and embedding.base_url.",
        { url: this.url, status: res.status },
      );
    }
    return this.#parse(text, input.length);
  }

  #parse(text: string, expected: number): Float32Array[] {
    let parsed: z.infer<typeof EmbeddingsResponse> | null = null;
    try {
      const result = EmbeddingsResponse.safeParse(JSON.parse(text));
      if (result.success) parsed = result.data;
    } catch {
      // not JSON: reported below
    }
    if (!parsed || parsed.data.length !== expected) {
      throw new TribalError(
        "EMBEDDING_ENDPOINT_REJECTED",
        `Embeddings endpoint ${this.url} did not answer with ${expected} embedding(s) ` +
          `({object: "list", data: [{index, embedding}]}). Is embedding.base_url an OpenAI-compatible API?`,
        { url: this.url },
      );
    }
    const vectors = new Array<Float32Array>(expected);
    parsed.data.forEach((item, position) => {
      const index = item.index ?? position;
      if (index < expected) vectors[index] = Float32Array.from(item.embedding);
    });
    const size = vectors[0]?.length;
    if (vectors.some((v) => !v || v.length !== size || (this.#dims && v.length !== this.#dims))) {
      throw new TribalError(
        "EMBEDDING_ENDPOINT_REJECTED",
        `Embeddings endpoint ${this.url} answered vectors of mixed or changed sizes (expected ${this.#dims || size}). ` +
          "Restart the daemon after changing the model behind it: it re-embeds at start.",
        { url: this.url },
      );
    }
    // Cosine everywhere downstream: unit length, whatever the server does.
    return vectors.map((v) => l2normalize(v));
  }
}

/** The server's own error text, short: `{error: {message}}` (OpenAI), `{error: "…"}` (Ollama) or the body. */
function serverMessage(text: string): string {
  let message = text;
  try {
    const body = JSON.parse(text) as { error?: { message?: string } | string; message?: string };
    message = (typeof body.error === "string" ? body.error : body.error?.message) ?? body.message ?? text;
  } catch {
    // plain text
  }
  return message.replace(/\s+/g, " ").slice(0, 200);
}

/** Builds the provider and learns its dimensions with one call. */
export async function createOpenAiEmbedder(options: OpenAiEmbedderOptions): Promise<OpenAiEmbedder> {
  const embedder = new OpenAiEmbedder(options);
  await embedder.probe();
  return embedder;
}
