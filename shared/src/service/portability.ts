import { type ErrorCode, TribalError } from "../errors.ts";
import { dedupKey } from "../memory/content.ts";
import { newMemoryId, normalizeMemoryId } from "../memory/ids.ts";
import { BundleEntry, type BundleManifest, type ConflictMode } from "../memory/schemas.ts";
import { mergeRedactionCounts, type RedactionCount } from "../memory/secret-redaction.ts";
import { checkContext, checkTags } from "../memory/size-policy.ts";
import type { Memory } from "../memory/types.ts";
import type { MemoryService } from "./memory-service.ts";

/**
 * Export and import in TribalMemory's bundle format (`manifest` + `entries`) and as JSONL
 * (one entry per line, an optional `{"manifest": …}` first line) for sets too large for one
 * JSON document.
 *
 * Imports stream. A 100k-line import once read the whole body, split it, validated every
 * line and then wrote, all without yielding: the daemon answered nothing for 570 s and grew
 * to 1.77 GB. Now lines are read from the request as they arrive, written in small
 * transactions, and the event loop gets a turn between them (see `ImportWriter`), so health,
 * recall and sync keep running and memory stays flat (`pnpm bench import-health`).
 */
export {
  BUNDLE_SCHEMA_VERSION,
  bundleText,
  type ExportOptions,
  exportAnswerText,
  exportEntries,
  exportManifest,
  exportModel,
  jsonlText,
} from "./bundle-export.ts";

import { startImportProgress } from "./import-progress.ts";

export { type ImportStatus, importStatus } from "./import-progress.ts";
export {
  bodyTooLarge,
  type JsonlReadLimits,
  openJsonlImport,
  readJsonlLines,
} from "./jsonl-import-reader.ts";

export interface ImportOptions {
  conflict: ConflictMode;
  embeddingStrategy: "auto" | "keep" | "drop";
  dryRun: boolean;
  /**
   * skip: bad entries are reported and the rest imported, streaming in constant memory.
   * abort: any bad entry imports nothing, so every entry is validated (and held) before the
   * first write: memory grows with the body, which the import body cap bounds.
   */
  onError: "skip" | "abort";
}

export interface ImportSummary {
  success: boolean;
  total: number;
  imported: number;
  skipped: number;
  overwritten: number;
  merged: number;
  duplicates: number;
  /** Entries whose id appeared earlier in the same import; counted again under skipped/overwritten/merged. */
  repeated_ids: number;
  errors: number;
  /** Vectors refused (wrong dimension, non-finite, zero); those memories are re-embedded. */
  vectors_rejected: number;
  needs_reembedding: boolean;
  /** Imported memories whose vectors the background backfill is still computing. */
  embedding_pending?: number;
  /** Secrets replaced in imported content, by kind (secret-redaction.ts). */
  redacted: RedactionCount[];
  dry_run: boolean;
  duration_ms: number;
  /** `line N: CODE?: message`, the first 100. */
  error_details: string[];
}

export interface RawImportItem {
  /** 1-based line (JSONL) or entry index (bundle) for error messages. */
  line: number;
  value?: unknown;
  parseError?: string;
}

/** What to import: the manifest (first JSONL line or the bundle's) and the entries, as they come. */
export interface ImportSource {
  manifest: BundleManifest | null;
  items: AsyncIterable<RawImportItem> | Iterable<RawImportItem>;
  /** Entries expected, when known (a bundle's length, or the manifest's memory_count). */
  total: number | null;
}

/** Largest commit: an upper bound beside the time budget below. */
export const IMPORT_MAX_BATCH = 500;
/**
 * Work between two turns of the event loop. Measured here: an imported memory costs ~1.5 ms
 * on a quiet core (Automerge document ~1.1 ms, SQLite row + FTS + entities ~0.25 ms), so 500
 * a transaction held the loop for ~750 ms. Transactions are sized to this budget instead,
 * from the cost measured so far, so health and recall wait about this long, times however
 * much the CPU is shared (on the 2-core build machine at load 9, 10 ms of work took ~50 ms).
 * A smaller slice only adds commits (~0.2 ms each).
 */
export const IMPORT_SLICE_MS = 10;

interface EntryIssue {
  line: number;
  code: ErrorCode;
  message: string;
}

interface ValidEntry {
  line: number;
  entry: BundleEntry;
  content: string;
  vector: Float32Array | null;
  redacted: RedactionCount[];
}

/**
 * Import entries as they arrive. `skip` streams: each entry is validated and written in turn.
 * `abort` validates everything first and refuses the whole set (TribalError) on any bad entry.
 */
export async function importEntries(
  service: MemoryService,
  source: ImportSource,
  options: ImportOptions,
): Promise<ImportSummary> {
  const started = performance.now();
  const target = service.embedding;
  const sourceModel = source.manifest?.embedding ?? null;
  const compatible =
    !!target &&
    !!sourceModel &&
    sourceModel.model_name === target.provider.modelId &&
    sourceModel.dimensions === target.provider.dims;
  const keepVectors = options.embeddingStrategy !== "drop" && compatible;
  const summary: ImportSummary = {
    success: true,
    total: 0,
    imported: 0,
    skipped: 0,
    overwritten: 0,
    merged: 0,
    duplicates: 0,
    repeated_ids: 0,
    errors: 0,
    vectors_rejected: 0,
    needs_reembedding: !!target && !keepVectors,
    redacted: [],
    dry_run: options.dryRun,
    duration_ms: 0,
    error_details: [],
  };
  const issue = (i: EntryIssue) => {
    if (summary.error_details.length < 100) summary.error_details.push(`line ${i.line}: ${i.message}`);
  };
  const progress = startImportProgress(service, source.total);
  const slicer = new TimeSlicer();
  const writer = new ImportWriter(service, options, summary);
  const check = (item: RawImportItem) =>
    validateItem(service, item, keepVectors ? (target?.provider.dims ?? null) : null, options);
  try {
    if (options.onError === "abort") {
      const valid: ValidEntry[] = [];
      let firstError: EntryIssue | null = null;
      for await (const item of source.items) {
        summary.total++;
        const r = check(item);
        if ("error" in r) {
          summary.errors++;
          firstError ??= r.error;
          issue(r.error);
        } else valid.push(r.ok);
        await slicer.turn();
      }
      if (firstError) {
        const e = firstError;
        throw new TribalError(
          e.code === "IMPORT_EMBEDDING_INVALID" ? "IMPORT_EMBEDDING_INVALID" : "IMPORT_INVALID",
          `Nothing imported: ${summary.errors} bad entr${summary.errors === 1 ? "y" : "ies"} (on_error=abort). First: line ${e.line}: ${e.message}`,
          { ...summary, success: false, line: e.line },
        );
      }
      progress.total = valid.length;
      for (const v of valid) {
        await writer.add(v);
        progress.done++;
        progress.report(summary);
        await slicer.turn();
      }
    } else {
      for await (const item of source.items) {
        summary.total++;
        const r = check(item);
        if ("error" in r) {
          summary.errors++;
          issue(r.error);
        } else {
          if (r.note) {
            summary.vectors_rejected++;
            issue(r.note);
          }
          await writer.add(r.ok);
        }
        progress.done++;
        progress.report(summary);
        await slicer.turn();
      }
    }
    await writer.flush();
  } catch (err) {
    progress.finish(summary, err as Error);
    throw err;
  }
  if (summary.imported > 0 && !options.dryRun && service.embedding) {
    summary.embedding_pending = await service.store.countMissingEmbeddings();
    void service.scheduleBackfill().catch(() => undefined);
  }
  summary.duration_ms = Math.round((performance.now() - started) * 10) / 10;
  progress.finish(summary, null);
  return summary;
}

/**
 * One entry checked and prepared: schema, content (secrets redacted, size), context, tags,
 * and, when vectors are kept, the vector (dimension, finite, normalised). `note` is a vector
 * refused under `skip`+`auto`: the memory is imported and re-embedded.
 */
function validateItem(
  service: MemoryService,
  item: RawImportItem,
  dims: number | null,
  options: ImportOptions,
): { ok: ValidEntry; note?: EntryIssue } | { error: EntryIssue } {
  const fail = (code: ErrorCode, message: string) => ({ error: { line: item.line, code, message } });
  if (item.parseError) return fail("IMPORT_INVALID", `not JSON (${item.parseError})`);
  let value = item.value;
  // JSON turns 1e400 into Infinity, which the schema would call "not a number": check vectors here.
  let vectorIssue: string | null = null;
  let rawVector: unknown[] | null = null;
  if (value && typeof value === "object" && Array.isArray((value as { embedding?: unknown }).embedding)) {
    rawVector = (value as { embedding: unknown[] }).embedding;
    value = { ...(value as object), embedding: null };
  }
  const parsed = BundleEntry.safeParse(value);
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    return fail("IMPORT_INVALID", `${i.path.join(".") || "entry"}: ${i.message}`);
  }
  const entry = parsed.data;
  let content: string;
  let redacted: RedactionCount[] = [];
  try {
    const r = service.redactSecrets(entry.content);
    redacted = r.redacted;
    content = service.checkContent(r.text, "content");
    checkContext(entry.context ?? null);
    checkTags(entry.tags ?? []);
  } catch (err) {
    const e = err as TribalError;
    return fail(e.code ?? "IMPORT_INVALID", e.message);
  }
  let vector: Float32Array | null = null;
  if (dims !== null && rawVector) {
    const v = unitVector(rawVector, dims);
    if (typeof v === "string") vectorIssue = v;
    else vector = v;
  }
  const ok: ValidEntry = { line: item.line, entry, content, vector, redacted };
  if (vectorIssue === null) return { ok };
  const message = `IMPORT_EMBEDDING_INVALID: ${vectorIssue}`;
  if (options.onError === "abort" || options.embeddingStrategy === "keep")
    return fail("IMPORT_EMBEDDING_INVALID", message);
  return {
    ok,
    note: {
      line: item.line,
      code: "IMPORT_EMBEDDING_INVALID",
      message: `${message}; imported without it, to be re-embedded`,
    },
  };
}

/**
 * A stored vector must be unit length and finite, or every cosine against it is NaN. Values
 * are scaled by their largest magnitude before squaring, so 1e308 (finite, but Infinity once
 * squared or narrowed to float32) normalises like any other direction.
 */
export function unitVector(values: readonly unknown[], dims: number): Float32Array | string {
  if (values.length !== dims)
    return `embedding has ${values.length} dimensions; the manifest and this server's model use ${dims}`;
  let max = 0;
  for (let i = 0; i < values.length; i++) {
    const x = values[i];
    if (typeof x !== "number" || !Number.isFinite(x))
      return `embedding[${i}] is ${typeof x === "number" ? String(x) : typeof x}, not a finite number`;
    max = Math.max(max, Math.abs(x));
  }
  if (max === 0) return "embedding is all zeros (no direction to compare)";
  let sum = 0;
  for (const x of values as number[]) sum += (x / max) ** 2;
  const norm = Math.sqrt(sum);
  const out = new Float32Array(dims);
  for (let i = 0; i < dims; i++) out[i] = (values[i] as number) / max / norm;
  return out;
}

/** Gives the event loop a turn once `IMPORT_SLICE_MS` of work has run since the last one. */
class TimeSlicer {
  private since = performance.now();

  async turn(force = false): Promise<void> {
    if (!force && performance.now() - this.since < IMPORT_SLICE_MS) return;
    await new Promise((r) => setImmediate(r));
    this.since = performance.now();
  }
}

/**
 * Writes new memories in transactions sized to the slice budget (at most IMPORT_MAX_BATCH),
 * yielding between them; applies id conflicts in order. An id met twice in one import is a
 * conflict with its first occurrence, resolved by `conflict_resolution` like any other, so
 * `imported` always equals the memories the import added.
 */
class ImportWriter {
  private batch: { memory: Memory; vector: Float32Array | null }[] = [];
  private readonly batchIds = new Set<string>();
  private readonly batchKeys = new Set<string>();
  /** Ids and dedup keys a dry run would have written (nothing is, so the store cannot tell). */
  private readonly dryIds = new Set<string>();
  private readonly dryKeys = new Set<string>();
  /** Every id this import has added or seen, for `repeated_ids` (36 bytes an entry). */
  private readonly seenIds = new Set<string>();
  /** Wall time a memory has cost so far; starts pessimistic so the first commit is small. */
  private msPerEntry = 2.5;
  private readonly now = new Date().toISOString();

  private readonly service: MemoryService;
  private readonly options: ImportOptions;
  private readonly summary: ImportSummary;

  constructor(service: MemoryService, options: ImportOptions, summary: ImportSummary) {
    this.service = service;
    this.options = options;
    this.summary = summary;
  }

  async add(v: ValidEntry): Promise<void> {
    const { entry, content } = v;
    const { service, options, summary } = this;
    const id = entry.id ? normalizeMemoryId(entry.id) : newMemoryId();
    if (entry.id) {
      if (this.seenIds.has(id)) summary.repeated_ids++;
      this.seenIds.add(id);
    }
    // The first occurrence must be in the store before the second is resolved against it.
    if (this.batchIds.has(id)) await this.flush();
    const existing = entry.id ? await service.store.get(id) : null;
    if (existing || (options.dryRun && this.dryIds.has(id))) {
      this.countRedactions(v);
      if (options.conflict === "skip") summary.skipped++;
      else if (options.conflict === "overwrite") {
        if (!options.dryRun && existing) {
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
        if (!options.dryRun && existing) {
          const newer = Date.parse(entry.updated_at ?? "") > Date.parse(existing.updated_at);
          await service.edit(id, {
            ...(newer ? { content, context: entry.context ?? existing.context } : {}),
            addTags: entry.tags ?? [],
          });
        }
        summary.merged++;
      }
      return;
    }
    const key = dedupKey(content);
    if (
      this.batchKeys.has(key) ||
      (options.dryRun && this.dryKeys.has(key)) ||
      (await service.store.findByDedupKey(key))
    ) {
      summary.duplicates++;
      summary.skipped++;
      return;
    }
    this.countRedactions(v);
    const created = validTime(entry.created_at) ?? this.now;
    this.batch.push({
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
        updated_at: validTime(entry.updated_at) ?? created,
        deleted: entry.deleted ?? false,
        // Kept even when past: such a memory is hidden at once and swept like any other.
        ...expiryOf(entry.expires_at),
        ...(entry.project ? { project: entry.project } : {}),
      },
      vector: v.vector,
    });
    this.batchIds.add(id);
    this.batchKeys.add(key);
    if (options.dryRun) {
      this.dryIds.add(id);
      this.dryKeys.add(key);
    }
    summary.imported++;
    const size = Math.min(IMPORT_MAX_BATCH, Math.max(1, Math.floor(IMPORT_SLICE_MS / this.msPerEntry)));
    if (this.batch.length >= size) await this.flush();
  }

  /** Commit the pending memories in one transaction, then give the event loop a turn. */
  async flush(): Promise<void> {
    if (!this.batch.length) return;
    const batch = this.batch;
    this.batch = [];
    this.batchIds.clear();
    this.batchKeys.clear();
    if (!this.options.dryRun) {
      const t0 = performance.now();
      await this.service.insertExact(batch, { deferEmbedding: true });
      const per = (performance.now() - t0) / batch.length;
      this.msPerEntry = 0.7 * this.msPerEntry + 0.3 * per;
    }
    await new Promise((r) => setImmediate(r));
  }

  private countRedactions(v: ValidEntry): void {
    if (v.redacted.length) mergeRedactionCounts(this.summary.redacted, v.redacted);
  }
}

/** `expires_at` of an imported entry, when it is a time. */
function expiryOf(t: string | null | undefined): { expires_at?: string } {
  const at = validTime(t);
  return at ? { expires_at: at } : {};
}

function validTime(t: string | null | undefined): string | null {
  if (!t) return null;
  const ms = Date.parse(t);
  return Number.isNaN(ms) ? null : new Date(ms).toISOString();
}
