import type { BundleEntry, BundleManifest } from "../memory/schemas.ts";
import type { Memory, MemoryFilters } from "../memory/types.ts";
import type { MemoryService } from "./memory-service.ts";

/** Export in TribalMemory's bundle format (`manifest` + `entries`), streamed entry by entry. */
export const BUNDLE_SCHEMA_VERSION = "1.0";

export interface ExportOptions {
  filters: MemoryFilters;
  includeEmbeddings: boolean;
  /** At most this many entries, the newest; all when absent. */
  limit?: number;
}

/** A model's name and width: the one whose vectors an export carries. */
export type ExportModel = { modelId: string; dims: number } | null;

/**
 * The model whose vectors an export carries: the service's, else the store's (a relay run
 * without a model keeps the vectors its daemons pushed, made by theirs).
 */
export async function exportModel(service: MemoryService): Promise<ExportModel> {
  const e = service.embedding;
  return e ? { modelId: e.provider.modelId, dims: e.provider.dims } : service.store.embeddingModel();
}

export function exportManifest(model: ExportModel, count: number | null): BundleManifest {
  return {
    schema_version: BUNDLE_SCHEMA_VERSION,
    embedding: model ? { model_name: model.modelId, dimensions: model.dims, provider: "tribalmemory" } : null,
    ...(count === null ? {} : { memory_count: count }),
    exported_at: new Date().toISOString(),
  };
}

/** Every matching memory (or the newest `limit`), newest first, as bundle entries; pages through the store. */
export async function* exportEntries(
  service: MemoryService,
  options: ExportOptions,
): AsyncGenerator<BundleEntry> {
  let cursor: string | null = null;
  let left = options.limit ?? Number.POSITIVE_INFINITY;
  const model = options.includeEmbeddings ? await exportModel(service) : null;
  do {
    const page = await service.store.list({ filters: options.filters, limit: Math.min(500, left), cursor });
    left -= page.memories.length;
    const vectors = model ? await embeddingsOf(service, model, page.memories) : null;
    for (const m of page.memories) {
      yield {
        id: m.id,
        content: m.content,
        embedding: vectors?.get(m.id) ?? null,
        source_instance: m.source_instance,
        source_type: m.source_type,
        created_at: m.created_at,
        updated_at: m.updated_at,
        tags: m.tags,
        context: m.context,
        confidence: m.confidence,
        supersedes: m.supersedes,
        ...(m.expires_at ? { expires_at: m.expires_at } : {}),
        ...(m.project ? { project: m.project } : {}),
        related_to: [],
      };
    }
    cursor = left > 0 ? page.nextCursor : null;
  } while (cursor);
}

async function embeddingsOf(
  service: MemoryService,
  model: NonNullable<ExportModel>,
  memories: Memory[],
): Promise<Map<string, number[]>> {
  const out = new Map<string, number[]>();
  if (!memories.length) return out;
  // The vectors the store keeps, as the model made them; the model again only for the rest
  // (a store that keeps none, or memories not embedded yet), where this service runs it.
  // Deterministic models agree.
  const vectors =
    (await service.store.storedVectors?.(
      memories.map((m) => m.id),
      model.modelId,
    )) ?? new Map<string, Float32Array>();
  const missing = memories.filter((m) => !vectors.has(m.id));
  const e = service.embedding;
  if (missing.length && e) {
    const computed = await e.provider.embed(
      missing.map((m) => m.content),
      "passage",
    );
    missing.forEach((m, i) => {
      vectors.set(m.id, computed[i]);
    });
  }
  for (const m of memories) {
    const v = vectors.get(m.id);
    if (v)
      out.set(
        m.id,
        Array.from(v, (x) => Math.round(x * 1e6) / 1e6),
      );
  }
  return out;
}

// ------------------------------------------------------------------ as text

/** Text chunks of about this many characters: one write per chunk, not one per entry. */
const CHUNK_CHARS = 64 * 1024;

/** `parts` joined into chunks of about `CHUNK_CHARS`. */
async function* chunked(parts: AsyncIterable<string>): AsyncGenerator<string> {
  let chunk = "";
  for await (const part of parts) {
    chunk += part;
    if (chunk.length >= CHUNK_CHARS) {
      yield chunk;
      chunk = "";
    }
  }
  if (chunk) yield chunk;
}

/** One entry per line after the manifest's (GET /v1/export?format=jsonl). */
export function jsonlText(
  entries: AsyncIterable<BundleEntry>,
  manifest: BundleManifest,
): AsyncGenerator<string> {
  return chunked(
    (async function* () {
      yield `${JSON.stringify({ manifest })}\n`;
      for await (const e of entries) yield `${JSON.stringify(e)}\n`;
    })(),
  );
}

/** `[…]` of the entries, counted into `count.n` as they are written. */
async function* entriesArray(entries: AsyncIterable<BundleEntry>, count = { n: 0 }): AsyncGenerator<string> {
  yield "[";
  for await (const e of entries) {
    yield (count.n ? "," : "") + JSON.stringify(e);
    count.n++;
  }
  yield "]";
}

/** `{"manifest":…,"entries":[…]}`, the manifest without a count (GET /v1/export?format=bundle). */
export function bundleText(
  entries: AsyncIterable<BundleEntry>,
  manifest: BundleManifest,
): AsyncGenerator<string> {
  return chunked(
    (async function* () {
      yield `{"manifest":${JSON.stringify(manifest)},"entries":`;
      yield* entriesArray(entries);
      yield "}";
    })(),
  );
}

/**
 * TribalMemory's `POST /v1/export` answer, `{success, memory_count, bundle: {manifest, entries}}`,
 * written as the entries are read: the entries come first and the manifest and count after them,
 * once counted (JSON objects are unordered). Built whole, a large store's answer did not fit in
 * memory: at 1M memories, a string past V8's limit (~512 MB).
 */
export function exportAnswerText(
  entries: AsyncIterable<BundleEntry>,
  manifestOf: (count: number) => BundleManifest,
): AsyncGenerator<string> {
  return chunked(
    (async function* () {
      const count = { n: 0 };
      yield '{"success":true,"bundle":{"entries":';
      yield* entriesArray(entries, count);
      yield `,"manifest":${JSON.stringify(manifestOf(count.n))}},"memory_count":${count.n}}`;
    })(),
  );
}
