import type { BundleEntry, BundleManifest } from "../memory/schemas.ts";
import type { Memory, MemoryFilters } from "../memory/types.ts";
import type { MemoryService } from "./memory-service.ts";

/** Export in TribalMemory's bundle format (`manifest` + `entries`), streamed entry by entry. */
export const BUNDLE_SCHEMA_VERSION = "1.0";

export interface ExportOptions {
  filters: MemoryFilters;
  includeEmbeddings: boolean;
}

export function exportManifest(service: MemoryService, count: number | null): BundleManifest {
  const e = service.embedding;
  return {
    schema_version: BUNDLE_SCHEMA_VERSION,
    embedding: e
      ? { model_name: e.provider.modelId, dimensions: e.provider.dims, provider: "tribalmemory" }
      : null,
    ...(count === null ? {} : { memory_count: count }),
    exported_at: new Date().toISOString(),
  };
}

/** Every matching memory, oldest first, as bundle entries; pages through the store. */
export async function* exportEntries(
  service: MemoryService,
  options: ExportOptions,
): AsyncGenerator<BundleEntry> {
  let cursor: string | null = null;
  do {
    const page = await service.store.list({ filters: options.filters, limit: 500, cursor });
    const vectors = options.includeEmbeddings ? await embeddingsOf(service, page.memories) : null;
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
    cursor = page.nextCursor;
  } while (cursor);
}

async function embeddingsOf(service: MemoryService, memories: Memory[]): Promise<Map<string, number[]>> {
  const e = service.embedding;
  const out = new Map<string, number[]>();
  if (!e || !memories.length) return out;
  // Recomputing is exact for deterministic models and avoids a store API only export needs.
  const vectors = await e.provider.embed(
    memories.map((m) => m.content),
    "passage",
  );
  for (let i = 0; i < memories.length; i++) {
    out.set(
      memories[i].id,
      Array.from(vectors[i], (x) => Math.round(x * 1e6) / 1e6),
    );
  }
  return out;
}

// ------------------------------------------------------------------ import
