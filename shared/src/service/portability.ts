import { isUtf8 } from "node:buffer";
import { type ErrorCode, TribalError } from "../errors.ts";
import { dedupKey } from "../memory/content.ts";
import { newMemoryId, normalizeMemoryId } from "../memory/ids.ts";
import { BundleEntry, BundleManifest, type ConflictMode } from "../memory/schemas.ts";
import { mergeRedactionCounts, type RedactionCount } from "../memory/secret-redaction.ts";
import { checkContext, checkTags } from "../memory/size-policy.ts";
import type { Memory, MemoryFilters } from "../memory/types.ts";
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

// ------------------------------------------------------------------ import

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
const PROGRESS_LOG_MS = 2000;

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

function validTime(t: string | null | undefined): string | null {
  if (!t) return null;
  const ms = Date.parse(t);
  return Number.isNaN(ms) ? null : new Date(ms).toISOString();
}

// ------------------------------------------------------------------ progress

export interface ImportStatus {
  running: boolean;
  /** Imports in progress now (several clients may import at once). */
  active: number;
  done: number;
  /** Entries expected, when the bundle or manifest says; null while unknown. */
  total: number | null;
  imported: number;
  errors: number;
  started_at: string | null;
  finished_at: string | null;
  /** The last import's failure, if it failed. */
  error?: string;
}

interface ImportRun {
  done: number;
  total: number | null;
  imported: number;
  errors: number;
  startedAt: string;
}

const runsByService = new WeakMap<MemoryService, { active: Set<ImportRun>; last: ImportStatus | null }>();

/** For /v1/health: the imports running now (summed), else the last one. */
export function importStatus(service: MemoryService): ImportStatus {
  const board = runsByService.get(service);
  const active = board ? [...board.active] : [];
  if (!active.length) {
    return (
      board?.last ?? {
        running: false,
        active: 0,
        done: 0,
        total: null,
        imported: 0,
        errors: 0,
        started_at: null,
        finished_at: null,
      }
    );
  }
  return {
    running: true,
    active: active.length,
    done: active.reduce((s, r) => s + r.done, 0),
    total: active.every((r) => r.total !== null) ? active.reduce((s, r) => s + (r.total ?? 0), 0) : null,
    imported: active.reduce((s, r) => s + r.imported, 0),
    errors: active.reduce((s, r) => s + r.errors, 0),
    started_at: active[0].startedAt,
    finished_at: null,
  };
}

function startImportProgress(service: MemoryService, total: number | null) {
  let board = runsByService.get(service);
  if (!board) {
    board = { active: new Set(), last: null };
    runsByService.set(service, board);
  }
  const run: ImportRun = { done: 0, total, imported: 0, errors: 0, startedAt: new Date().toISOString() };
  board.active.add(run);
  const b = board;
  const t0 = performance.now();
  let lastLog = t0;
  const fields = () => ({
    done: run.done,
    total: run.total,
    imported: run.imported,
    errors: run.errors,
    per_s: Math.round(run.done / Math.max(0.001, (performance.now() - t0) / 1000)),
  });
  service.log?.info({ total }, "import started");
  return {
    get done() {
      return run.done;
    },
    set done(n: number) {
      run.done = n;
    },
    set total(n: number | null) {
      run.total = n;
    },
    report(summary: ImportSummary) {
      run.imported = summary.imported;
      run.errors = summary.errors;
      if (performance.now() - lastLog >= PROGRESS_LOG_MS) {
        lastLog = performance.now();
        service.log?.info(fields(), "import progress");
      }
    },
    finish(summary: ImportSummary, err: Error | null) {
      run.imported = summary.imported;
      run.errors = summary.errors;
      run.total ??= run.done;
      b.active.delete(run);
      b.last = {
        running: false,
        active: 0,
        done: run.done,
        total: run.total,
        imported: run.imported,
        errors: run.errors,
        started_at: run.startedAt,
        finished_at: new Date().toISOString(),
        ...(err ? { error: err.message } : {}),
      };
      service.log?.info(fields(), "import progress");
      service.log?.info(
        { ...fields(), ms: Math.round(performance.now() - t0), failed: !!err },
        "import finished",
      );
    },
  };
}

// ------------------------------------------------------------------ JSONL reading

export interface JsonlReadLimits {
  /** Bytes in the whole body (PAYLOAD_TOO_LARGE past it). */
  maxBytes: number;
  /** Bytes in one line; a longer line is reported and skipped, never buffered whole. */
  maxLineBytes: number;
}

/**
 * Lines of a JSONL body as they arrive, each parsed on its own; a line that is not UTF-8
 * or not JSON is reported by number and the rest still read.
 */
export async function* readJsonlLines(
  stream: AsyncIterable<Buffer | string>,
  limits: JsonlReadLimits,
): AsyncGenerator<RawImportItem> {
  let carry: Buffer[] = [];
  let carryBytes = 0;
  let oversized = false;
  let lineNo = 0;
  let total = 0;
  const finish = (buf: Buffer): RawImportItem | null => {
    lineNo++;
    if (oversized) {
      oversized = false;
      return { line: lineNo, parseError: `line longer than ${limits.maxLineBytes} bytes` };
    }
    if (!isUtf8(buf)) return { line: lineNo, parseError: "not valid UTF-8" };
    const text = buf.toString("utf8").trim();
    if (!text) return null;
    try {
      return { line: lineNo, value: JSON.parse(text) };
    } catch (err) {
      return { line: lineNo, parseError: (err as Error).message };
    }
  };
  for await (const raw of stream) {
    const chunk = typeof raw === "string" ? Buffer.from(raw, "utf8") : raw;
    total += chunk.length;
    if (total > limits.maxBytes) throw bodyTooLarge(limits.maxBytes, lineNo);
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      if (nl < 0) break;
      const piece = chunk.subarray(start, nl);
      const line = carry.length ? Buffer.concat([...carry, piece]) : piece;
      carry = [];
      carryBytes = 0;
      const item = finish(line);
      if (item) yield item;
      start = nl + 1;
    }
    if (start < chunk.length && !oversized) {
      const rest = chunk.subarray(start);
      carryBytes += rest.length;
      if (carryBytes > limits.maxLineBytes) {
        oversized = true;
        carry = [];
        carryBytes = 0;
      } else carry.push(Buffer.from(rest));
    }
  }
  if (carry.length || oversized) {
    const item = finish(Buffer.concat(carry));
    if (item) yield item;
  }
}

export function bodyTooLarge(maxBytes: number, linesRead: number): TribalError {
  return new TribalError(
    "PAYLOAD_TOO_LARGE",
    `The import body exceeds ${Math.round(maxBytes / 1024 / 1024)} MiB. Split it into several imports.`,
    { limit: maxBytes, lines_read: linesRead },
  );
}

/**
 * A JSONL import: a first line holding `{"manifest": …}` is the manifest (read before any
 * entry, so the vector decision is known), every other line an entry.
 */
export async function openJsonlImport(
  stream: AsyncIterable<Buffer | string>,
  limits: JsonlReadLimits,
): Promise<ImportSource> {
  const lines = readJsonlLines(stream, limits);
  const first = await lines.next();
  let manifest: BundleManifest | null = null;
  let pushBack: RawImportItem | null = null;
  if (!first.done) {
    const v = first.value.value;
    if (v && typeof v === "object" && !Array.isArray(v) && "manifest" in v) {
      const m = BundleManifest.safeParse((v as { manifest: unknown }).manifest);
      if (!m.success)
        throw new TribalError(
          "IMPORT_INVALID",
          `line ${first.value.line}: manifest is invalid: ${m.error.issues[0].message}`,
          { line: first.value.line },
        );
      manifest = m.data;
    } else pushBack = first.value;
  }
  async function* items(): AsyncGenerator<RawImportItem> {
    if (pushBack) yield pushBack;
    if (!first.done) yield* lines;
  }
  return { manifest, items: items(), total: manifest?.memory_count ?? null };
}
