import { TribalError } from "../errors.ts";
import { cleanContent, dedupKey } from "../memory/content.ts";
import { newMemoryId, normalizeMemoryId } from "../memory/ids.ts";
import { BundleEntry, BundleManifest, type ConflictMode } from "../memory/schemas.ts";
import type { Memory, MemoryFilters } from "../memory/types.ts";
import type { MemoryService } from "./memory-service.ts";

/**
 * Export and import in TribalMemory's bundle format (`manifest` + `entries`) and as JSONL
 * (one entry per line, an optional `{"manifest": …}` first line) for sets too large for one
 * JSON document.
 */
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

export interface ImportOptions {
  conflict: ConflictMode;
  embeddingStrategy: "auto" | "keep" | "drop";
  dryRun: boolean;
  /** skip: bad entries are reported and the rest imported; abort: any bad entry imports nothing. */
  onError: "skip" | "abort";
  onProgress?: (done: number, total: number) => void;
}

export interface ImportSummary {
  success: boolean;
  total: number;
  imported: number;
  skipped: number;
  overwritten: number;
  merged: number;
  duplicates: number;
  errors: number;
  needs_reembedding: boolean;
  /** Imported memories whose vectors the background backfill is still computing. */
  embedding_pending?: number;
  dry_run: boolean;
  duration_ms: number;
  error_details: string[];
}

export interface RawImportItem {
  /** 1-based line (JSONL) or entry index (bundle) for error messages. */
  line: number;
  value?: unknown;
  parseError?: string;
}

interface ValidEntry {
  line: number;
  entry: BundleEntry;
}

/** Validate everything first, so `abort` can refuse the whole set before writing anything. */
export async function importEntries(
  service: MemoryService,
  manifest: BundleManifest | null,
  items: RawImportItem[],
  options: ImportOptions,
): Promise<ImportSummary> {
  const started = performance.now();
  const errorDetails: string[] = [];
  const valid: ValidEntry[] = [];
  for (const item of items) {
    if (item.parseError) {
      errorDetails.push(`line ${item.line}: not JSON (${item.parseError})`);
      continue;
    }
    const parsed = BundleEntry.safeParse(item.value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      errorDetails.push(`line ${item.line}: ${issue.path.join(".") || "entry"}: ${issue.message}`);
      continue;
    }
    try {
      service.checkContent(parsed.data.content, "content");
    } catch (err) {
      errorDetails.push(`line ${item.line}: ${(err as Error).message}`);
      continue;
    }
    valid.push({ line: item.line, entry: parsed.data });
  }
  const target = service.embedding;
  const sourceModel = manifest?.embedding ?? null;
  const compatible =
    !!target &&
    !!sourceModel &&
    sourceModel.model_name === target.provider.modelId &&
    sourceModel.dimensions === target.provider.dims;
  const keepVectors =
    options.embeddingStrategy === "keep" ? compatible : options.embeddingStrategy === "auto" && compatible;
  const summary: ImportSummary = {
    success: true,
    total: items.length,
    imported: 0,
    skipped: 0,
    overwritten: 0,
    merged: 0,
    duplicates: 0,
    errors: errorDetails.length,
    needs_reembedding: !!target && !keepVectors,
    dry_run: options.dryRun,
    duration_ms: 0,
    error_details: errorDetails.slice(0, 100),
  };
  if (errorDetails.length && options.onError === "abort") {
    summary.success = false;
    summary.duration_ms = performance.now() - started;
    return summary;
  }
  const now = new Date().toISOString();
  const batch: { memory: Memory; vector: Float32Array | null }[] = [];
  const seenKeys = new Set<string>();
  const flush = async () => {
    if (!batch.length) return;
    if (!options.dryRun) await service.insertExact(batch.splice(0), { deferEmbedding: true });
    else batch.length = 0;
  };
  let done = 0;
  for (const { entry } of valid) {
    const content = cleanContent(entry.content);
    const id = entry.id ? normalizeMemoryId(entry.id) : newMemoryId();
    const existing = entry.id ? await service.store.get(id) : null;
    if (existing) {
      if (options.conflict === "skip") summary.skipped++;
      else if (options.conflict === "overwrite") {
        if (!options.dryRun) {
          await service.edit(id, {
            content,
            addTags: entry.tags ?? [],
            removeTags: existing.tags.filter((t) => !(entry.tags ?? []).includes(t)),
            context: entry.context ?? null,
            confidence: entry.confidence ?? existing.confidence,
            supersedes: entry.supersedes ?? null,
            deleted: entry.deleted ?? false,
          });
        }
        summary.overwritten++;
      } else {
        // merge: keep the newer content, union the tags.
        const newer = Date.parse(entry.updated_at ?? "") > Date.parse(existing.updated_at);
        if (!options.dryRun) {
          await service.edit(id, {
            ...(newer ? { content, context: entry.context ?? existing.context } : {}),
            addTags: entry.tags ?? [],
          });
        }
        summary.merged++;
      }
    } else {
      const key = dedupKey(content);
      const dup = seenKeys.has(key) || (await service.store.findByDedupKey(key));
      if (dup) {
        summary.duplicates++;
        summary.skipped++;
      } else {
        seenKeys.add(key);
        const created =
          entry.created_at && !Number.isNaN(Date.parse(entry.created_at))
            ? new Date(entry.created_at).toISOString()
            : now;
        batch.push({
          memory: {
            id,
            content,
            source_type: entry.source_type ?? "import",
            source_instance: entry.source_instance ?? service.instanceId,
            tags: [...new Set(entry.tags ?? [])].sort(),
            context: entry.context ?? null,
            confidence: entry.confidence ?? 1,
            supersedes: entry.supersedes ?? null,
            duplicate_of: null,
            created_at: created,
            updated_at:
              entry.updated_at && !Number.isNaN(Date.parse(entry.updated_at))
                ? new Date(entry.updated_at).toISOString()
                : created,
            deleted: entry.deleted ?? false,
          },
          vector: keepVectors && entry.embedding ? l2(Float32Array.from(entry.embedding)) : null,
        });
        summary.imported++;
        if (batch.length >= 256) await flush();
      }
    }
    done++;
    if (done % 256 === 0) options.onProgress?.(done, valid.length);
  }
  await flush();
  if (summary.imported > 0 && !options.dryRun && service.embedding) {
    summary.embedding_pending = await service.store.countMissingEmbeddings();
    void service.scheduleBackfill().catch(() => undefined);
  }
  options.onProgress?.(valid.length, valid.length);
  summary.duration_ms = Math.round((performance.now() - started) * 10) / 10;
  return summary;
}

function l2(v: Float32Array): Float32Array {
  let s = 0;
  for (const x of v) s += x * x;
  const n = Math.sqrt(s) || 1;
  for (let i = 0; i < v.length; i++) v[i] /= n;
  return v;
}

/** Split a JSONL text into raw items; a line with a `manifest` key is the manifest. */
export function parseJsonl(text: string): { manifest: BundleManifest | null; items: RawImportItem[] } {
  const items: RawImportItem[] = [];
  let manifest: BundleManifest | null = null;
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (!line) continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      items.push({ line: i + 1, parseError: (err as Error).message });
      continue;
    }
    if (
      value &&
      typeof value === "object" &&
      "manifest" in value &&
      items.length === 0 &&
      manifest === null
    ) {
      const m = BundleManifest.safeParse((value as { manifest: unknown }).manifest);
      if (!m.success)
        throw new TribalError(
          "IMPORT_INVALID",
          `line ${i + 1}: manifest is invalid: ${m.error.issues[0].message}`,
          { line: i + 1 },
        );
      manifest = m.data;
      continue;
    }
    items.push({ line: i + 1, value });
  }
  return { manifest, items };
}
