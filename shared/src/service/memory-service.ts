import type { EmbeddingProvider } from "../embed/provider.ts";
import { cosineSimilarity } from "../embed/similarity.ts";
import { TribalError } from "../errors.ts";
import { contentHash, dedupKey } from "../memory/content.ts";
import { createMemoryDoc, editMemoryDoc, type MemoryEdit, saveMemoryDoc } from "../memory/document.ts";
import { isExpired, longerExpiry, resolveExpiresAt } from "../memory/expiry.ts";
import { newMemoryId } from "../memory/ids.ts";
import type { CorrectBody, RecallBody, RememberBody } from "../memory/schemas.ts";
import { type RedactionCount, type RedactionResult, redactSecrets } from "../memory/secret-redaction.ts";
import {
  checkChangeBytes,
  checkContext,
  checkRecord,
  checkTags,
  checkWrite,
  type SizePolicy,
  sizePolicy,
} from "../memory/size-policy.ts";
import type { Memory, MemoryFilters, StoredEmbedding } from "../memory/types.ts";
import {
  type RecallOutcome,
  type RecallSteps,
  recallMemories,
  type VectorCalibration,
} from "../recall/pipeline.ts";
import type { ListPage, MemoryStore, StoreStats, StoreWrite } from "../store/memory-store.ts";
import { checkedContent } from "./content-check.ts";
import { DocCache } from "./doc-cache.ts";
import { embedMissingVectors } from "./embedding-backfill.ts";
import { EmbeddingCalls } from "./embedding-calls.ts";
import { GroupCommit } from "./group-commit.ts";
import { recallInProjectScope } from "./project-scope.ts";
import { rememberRowsFirst, rowsFirst } from "./remember-overlap.ts";
import { resolveTimeBound } from "./time-bounds.ts";
import { WriteQueue } from "./write-queue.ts";

export interface EmbedderInfo {
  provider: EmbeddingProvider;
  calibration: VectorCalibration;
  /** Cosine at or above which a new memory is a duplicate; null = exact matches only (weak models). */
  dedupCosine: number | null;
}

export interface MemoryServiceOptions {
  store: MemoryStore;
  /** Automerge actor of this writer (one per install or relay process). */
  actor: string;
  /** Default `source_instance` when a request names none. */
  instanceId: string;
  maxContentBytes?: number;
  now?: () => Date;
  /** Called after every committed write (sync pushes from here). */
  onWrite?: (writes: StoreWrite[]) => void;
  /** Replace secrets in content before it is stored or synced (config `redaction.enabled`; default on). */
  redactSecrets?: boolean;
  /** Progress of long jobs (imports); pino fits. */
  log?: ServiceLog;
  /** Write a remember's row while the model embeds it, its vector just after (remember-overlap.ts). */
  vectorsAfterRows?: boolean;
}

export interface ServiceLog {
  info(fields: object, message: string): void;
}

export type RememberStatus = "created" | "duplicate";

export interface RememberOutcome {
  status: RememberStatus;
  memory: Memory;
  /** For a duplicate: the memory it matched. */
  duplicateOf: string | null;
  /** How the duplicate was found. */
  match?: "exact" | "semantic";
  /** Secrets replaced in the content before it was stored (secret-redaction.ts). */
  redacted?: RedactionCount[];
}

/** Remembers written in one group commit at most (each memory of a batch counts). */
const REMEMBER_GROUP_ITEMS = 64;

interface RememberJob {
  prepared: PreparedMemory[];
  vectors: (Float32Array | null)[];
  /** Vectors follow the rows: sync hears of these writes once the vectors are stored too. */
  later?: { writes: StoreWrite[] };
}

interface PreparedMemory {
  memory: Memory;
  key: string;
  skipDedup: boolean;
  redacted: RedactionCount[];
}

export interface WriteOptions {
  /** Fires when the caller no longer waits (its client went away): a queued write is then skipped. */
  signal?: AbortSignal;
}

/**
 * The memory domain, written once for daemon and relay: validation beyond the schema, dedup,
 * corrections, Automerge change capture, embedding and recall, over any MemoryStore.
 */
export class MemoryService {
  readonly store: MemoryStore;
  /** This writer's Automerge actor (a memory's history names the device of its changes by it). */
  readonly actor: string;
  readonly instanceId: string;
  /** Sizes (shared/src/memory/size-policy.ts): the same on daemon and relay. */
  private readonly sizes: SizePolicy;
  private readonly now: () => Date;
  private readonly docs: DocCache;
  private readonly queue = new WriteQueue();
  private readonly onWrite: ((writes: StoreWrite[]) => void) | undefined;
  private embedder: EmbedderInfo | null = null;
  private readonly redaction: boolean;
  private readonly vectorsAfterRows: boolean;
  readonly log: ServiceLog | null;

  constructor(options: MemoryServiceOptions) {
    this.redaction = options.redactSecrets ?? true;
    this.vectorsAfterRows = options.vectorsAfterRows ?? false;
    this.log = options.log ?? null;
    this.store = options.store;
    this.actor = options.actor;
    this.instanceId = options.instanceId;
    this.sizes = sizePolicy({ maxContentBytes: options.maxContentBytes });
    this.now = options.now ?? (() => new Date());
    this.docs = new DocCache(this.store, this.actor);
    this.onWrite = options.onWrite;
  }

  /** Attach (or replace) the embedding model. Switching model drops the old vectors. */
  async setEmbedder(info: EmbedderInfo | null): Promise<void> {
    this.embedder = info;
    if (info) await this.store.setEmbeddingModel(info.provider.modelId, info.provider.dims);
  }

  /** Writes queued or running in this service's write queue (the relay's metrics). */
  get pendingWrites(): number {
    return this.queue.depth;
  }

  get embedding(): EmbedderInfo | null {
    return this.embedder;
  }

  // ---------------------------------------------------------------- writes

  async remember(body: RememberBody, options: WriteOptions = {}): Promise<RememberOutcome> {
    const [outcome] = await this.rememberMany([body], options);
    return outcome;
  }

  /**
   * Remember several memories: one embedding batch, one transaction. Concurrent calls waiting
   * for the write queue are written together (group-commit.ts), each with its own outcomes.
   */
  async rememberMany(bodies: RememberBody[], options: WriteOptions = {}): Promise<RememberOutcome[]> {
    const prepared = bodies.map((b) => this.prepare(b));
    for (const p of prepared) {
      if (p.memory.supersedes) await this.requireMemory(p.memory.supersedes, "supersedes");
    }
    const embedder = this.embedder;
    const vectors = this.embedContents(prepared.map((p) => p.memory.content));
    const skips = prepared.map((p) => p.skipDedup);
    if (!embedder || !this.vectorsAfterRows || !rowsFirst(embedder, skips))
      return this.remembers.submit({ prepared, vectors: await vectors }, options.signal);
    const rows = (later: RememberJob["later"]) =>
      this.remembers.submit({ prepared, vectors: skips.map(() => null), later }, options.signal);
    return rememberRowsFirst(rows, vectors, {
      store: this.store,
      toStored: (c, v) => (this.embedder === embedder ? this.toStoredEmbedding(c, v) : null),
      notify: (writes) => this.notifyWrite(writes),
      missed: () => void this.scheduleBackfill().catch(() => undefined),
      log: this.log,
    });
  }

  private readonly remembers = new GroupCommit<RememberJob, RememberOutcome[]>(
    this.queue,
    (jobs) => this.writeRemembers(jobs),
    { maxItems: REMEMBER_GROUP_ITEMS, itemsOf: (job) => job.prepared.length },
  );

  /**
   * The remembers of a group in one transaction, with the outcomes writing them one after
   * another would give: a later duplicate of an earlier one in the group is a duplicate of it,
   * and each duplicate reports the memory as it is after its own tag merge.
   */
  private async writeRemembers(jobs: RememberJob[]): Promise<RememberOutcome[][]> {
    const prepared = jobs.flatMap((j) => j.prepared);
    const vectors = jobs.flatMap((j) => j.vectors);
    const outcomes: RememberOutcome[] = new Array(prepared.length);
    const writes: StoreWrite[] = [];
    const createdByKey = new Map<string, string>();
    /** The memories this group created or edited, as they are after its writes so far. */
    const latest = new Map<string, Memory>();
    const createdVectors: { id: string; vector: Float32Array }[] = [];
    const nowMs = this.now().getTime();
    for (let i = 0; i < prepared.length; i++) {
      const p = prepared[i];
      if (!p.skipDedup) {
        const earlier = createdByKey.get(p.key);
        const existing =
          earlier !== undefined
            ? (latest.get(earlier) ?? null)
            : await this.store.findByDedupKey(p.key).then((m) => (m && !isExpired(m, nowMs) ? m : null));
        let match: "exact" | "semantic" | undefined = existing ? "exact" : undefined;
        let dup: Memory | null = existing;
        const vector = vectors[i];
        const cosine = this.embedder?.dedupCosine;
        if (!dup && vector && cosine != null) {
          const [nearest] = await this.store.vectorSearch(vector, 1, { activeAt: nowMs });
          let best = nearest && nearest.score >= cosine ? { id: nearest.id, score: nearest.score } : null;
          // Memories created earlier in this group are not in the store's index yet.
          for (const c of createdVectors) {
            const score = cosineSimilarity(vector, c.vector);
            if (score >= cosine && (!best || score > best.score)) best = { id: c.id, score };
          }
          if (best) {
            dup = latest.get(best.id) ?? (await this.store.get(best.id));
            match = dup ? "semantic" : undefined;
          }
        }
        if (dup) {
          let current = latest.get(dup.id) ?? dup;
          const add = p.memory.tags.filter((t) => !current.tags.includes(t));
          const expiry = longerExpiry(current, p.memory);
          if (add.length || expiry) {
            const w = await this.editWrite(current.id, {
              addTags: add,
              ...expiry,
              updated_at: this.now().toISOString(),
            });
            if (w) {
              writes.push(w);
              latest.set(current.id, w.memory);
              current = w.memory;
            }
          }
          outcomes[i] = { status: "duplicate", memory: current, duplicateOf: current.id, match };
          continue;
        }
      }
      const created = createMemoryDoc(p.memory, this.actor);
      this.docs.put(p.memory.id, created.doc);
      writes.push({
        memory: created.memory,
        dedupKey: p.key,
        change: created.change,
        docBytes: saveMemoryDoc(created.doc),
        embedding: this.toStoredEmbedding(p.memory.content, vectors[i]),
      });
      outcomes[i] = { status: "created", memory: created.memory, duplicateOf: null };
      latest.set(p.memory.id, created.memory);
      createdByKey.set(p.key, p.memory.id);
      if (vectors[i]) createdVectors.push({ id: p.memory.id, vector: vectors[i] as Float32Array });
    }
    await this.commit(writes, !jobs.some((j) => j.later));
    for (const j of jobs) if (j.later) j.later.writes = writes;
    prepared.forEach((p, i) => {
      if (p.redacted.length) outcomes[i].redacted = p.redacted;
    });
    let at = 0;
    return jobs.map((j) => {
      const mine = outcomes.slice(at, at + j.prepared.length);
      at += j.prepared.length;
      return mine;
    });
  }

  /** A correction is a new memory that supersedes the original; the original is hidden from recall. */
  async correct(body: CorrectBody): Promise<RememberOutcome> {
    const original = await this.requireMemory(body.original_id, "original_id");
    if (original.deleted) {
      throw new TribalError(
        "CONFLICT",
        `Memory ${original.id} was forgotten; remember the corrected fact instead.`,
      );
    }
    return this.remember({
      content: body.corrected_content,
      source_type: "correction",
      source_instance: body.source_instance,
      tags: body.tags ?? original.tags,
      context: body.context,
      supersedes: original.id,
      skip_dedup: true,
      project: original.project,
    });
  }

  /** Tombstone: hidden everywhere, content kept until purge. Idempotent. */
  async forget(id: string): Promise<Memory> {
    await this.requireMemory(id, "memory_id");
    return this.queue.run(async () => {
      const w = await this.editWrite(id, { deleted: true, updated_at: this.now().toISOString() });
      if (!w) return (await this.store.get(id)) as Memory;
      await this.commit([w]);
      return w.memory;
    });
  }

  /** Apply an edit to an existing memory (import overwrite/merge, tag merges). */
  async edit(id: string, edit: Omit<MemoryEdit, "updated_at"> & { updated_at?: string }): Promise<Memory> {
    if (edit.context !== undefined) checkContext(edit.context, this.sizes);
    return this.queue.run(async () => {
      const w = await this.editWrite(id, {
        ...edit,
        updated_at: edit.updated_at ?? this.now().toISOString(),
      });
      if (!w) return (await this.store.get(id)) as Memory;
      if (edit.content !== undefined || edit.context !== undefined || edit.addTags?.length)
        checkRecord(w.memory, this.sizes);
      if (edit.content !== undefined) {
        const [v] = await this.embedContents([w.memory.content]);
        w.embedding = this.toStoredEmbedding(w.memory.content, v);
      }
      await this.commit([w]);
      return w.memory;
    });
  }

  private async editWrite(id: string, edit: MemoryEdit): Promise<StoreWrite | null> {
    const doc = await this.docs.load(id);
    if (!doc) throw new TribalError("MEMORY_NOT_FOUND", `No memory ${id}.`);
    const result = editMemoryDoc(doc, edit);
    if (!result) return null;
    this.docs.put(id, result.doc);
    return {
      memory: result.memory,
      dedupKey: dedupKey(result.memory.content),
      change: result.change,
      docBytes: saveMemoryDoc(result.doc),
    };
  }

  private async commit(writes: StoreWrite[], notify = true): Promise<void> {
    if (!writes.length) return;
    // Every write path ends here: nothing is stored that the relay would refuse to sync. A new
    // memory is checked whole; an edit by the change it makes (what edit() adds is checked
    // there), so a legacy oversize memory can still be forgotten.
    for (const w of writes) {
      if (w.change.deps.length === 0) checkWrite(w, this.sizes);
      else checkChangeBytes(w.change, this.sizes.maxChangeBytes);
    }
    try {
      await this.store.write(writes);
    } catch (err) {
      for (const w of writes) this.docs.forget(w.memory.id);
      throw err;
    }
    if (notify) this.notifyWrite(writes);
  }

  private notifyWrite(writes: StoreWrite[]): void {
    if (!writes.length) return;
    // Committed: a failing listener must not report the write as failed (group commit would
    // then write the group again, one by one).
    try {
      this.onWrite?.(writes);
    } catch (err) {
      this.log?.info({ err: (err as Error).message }, "write listener failed");
    }
  }

  /**
   * Insert memories exactly as given (import): ids and times kept, no dedup. Vectors are
   * used when supplied for the current model, computed otherwise.
   */
  async insertExact(
    items: { memory: Memory; vector?: Float32Array | null }[],
    options: { deferEmbedding?: boolean } = {},
  ): Promise<void> {
    // Bulk imports do not wait for the model (~15 ms of CPU a text for bge-small): rows and
    // keyword index land at once, vectors follow from the background backfill.
    const needEmbedding = options.deferEmbedding
      ? []
      : items.map((it, i) => (it.vector ? -1 : i)).filter((i) => i >= 0);
    const computed = await this.embedContents(needEmbedding.map((i) => items[i].memory.content));
    const vectors = items.map((it) => it.vector ?? null);
    needEmbedding.forEach((idx, j) => {
      vectors[idx] = computed[j];
    });
    await this.queue.run(async () => {
      const writes: StoreWrite[] = items.map((it, i) => {
        const created = createMemoryDoc(it.memory, this.actor);
        this.docs.put(it.memory.id, created.doc);
        return {
          memory: created.memory,
          dedupKey: dedupKey(created.memory.content),
          change: created.change,
          docBytes: saveMemoryDoc(created.doc),
          embedding: this.toStoredEmbedding(created.memory.content, vectors[i]),
        };
      });
      await this.commit(writes);
    });
  }

  /**
   * Run a write made beside the service (sync applying remote changes) in its write queue, so
   * no edit starts from a document it replaces; cached documents of the touched ids are dropped.
   */
  async writeBeside<T>(task: () => Promise<{ value: T; touchedIds: string[] }>): Promise<T> {
    return this.queue.run(async () => {
      const { value, touchedIds } = await task();
      for (const id of touchedIds) this.docs.forget(id);
      return value;
    });
  }

  // ---------------------------------------------------------------- reads

  async get(id: string): Promise<Memory> {
    const m = await this.store.get(id);
    if (!m || isExpired(m, this.now().getTime()))
      throw new TribalError(
        "MEMORY_NOT_FOUND",
        `No memory ${id}. Ids come from remember or recall responses.`,
      );
    return m;
  }

  async list(options: {
    limit: number;
    cursor?: string;
    tags?: string[];
    source_instance?: string;
    source_type?: string;
    after?: string;
    before?: string;
    include_deleted?: boolean;
    include_superseded?: boolean;
    include_expired?: boolean;
  }): Promise<ListPage> {
    const now = this.now();
    return this.store.list({
      limit: options.limit,
      cursor: options.cursor ?? null,
      filters: {
        tags: options.tags,
        sourceInstance: options.source_instance,
        sourceType: options.source_type,
        after: resolveTimeBound("after", options.after, now),
        before: resolveTimeBound("before", options.before, now),
        includeDeleted: options.include_deleted ?? false,
        includeSuperseded: options.include_superseded ?? true,
        includeExpired: options.include_expired ?? false,
        activeAt: now.getTime(),
      },
    });
  }

  /** `steps` switches pipeline steps on or off (the recall-quality benchmark compares them). */
  async recall(body: RecallBody, steps?: Partial<RecallSteps>): Promise<RecallOutcome> {
    const now = this.now();
    const filters: MemoryFilters = {
      tags: body.tags ?? undefined,
      sourceInstance: body.source_instance,
      sourceType: body.source_type,
      after: resolveTimeBound("after", body.after, now),
      before: resolveTimeBound("before", body.before, now),
      includeSuperseded: body.include_superseded,
      activeAt: now.getTime(),
    };
    const embedder = this.embedder;
    const deps = {
      store: this.store,
      embedQuery: embedder ? (text: string) => this.embedQuery(text) : null,
      calibration: embedder?.calibration ?? { floor: 0, ceiling: 1, weight: 0 },
      now: this.now,
    };
    const { query, limit, min_relevance: minRelevance } = body;
    // The caller's project first (or only), after ranking: project-scope.ts.
    return recallInProjectScope({ project: body.project, scope: body.scope, limit }, filters, (f) =>
      recallMemories(deps, { query, limit, minRelevance, filters: f, steps, explain: body.explain === true }),
    );
  }

  stats(): Promise<StoreStats> {
    return this.store.stats();
  }

  // ---------------------------------------------------------------- embeddings

  /** Calls to the model; a failing model means no vectors for now, never a failed request. */
  readonly embeddingCalls = new EmbeddingCalls();

  private async embedQuery(text: string): Promise<Float32Array | null> {
    return this.embedder ? this.embeddingCalls.query(this.embedder.provider, text) : null;
  }

  /** Vectors for contents; nulls when no model is loaded or it fails (backfilled later). */
  private async embedContents(contents: string[]): Promise<(Float32Array | null)[]> {
    const embedder = this.embedder;
    if (!embedder || contents.length === 0) return contents.map(() => null);
    return this.embeddingCalls.passages(embedder.provider, contents);
  }

  private toStoredEmbedding(content: string, vector: Float32Array | null): StoredEmbedding | null {
    if (!vector || !this.embedder) return null;
    return { modelId: this.embedder.provider.modelId, contentHash: contentHash(content), vector };
  }

  /** Progress of the background backfill (`scheduleBackfill`), for health and logs. */
  readonly backfill = { running: false, done: 0, total: 0 };
  /** Called as the background backfill advances (the daemon logs it). */
  onBackfillProgress: ((done: number, total: number) => void) | null = null;
  private backfillRun: Promise<number> | null = null;
  private backfillAgain = false;

  /**
   * Embed, in the background, every memory lacking a vector: one run at a time however many
   * callers ask (model load, import, sync), repeated if asked again while running.
   */
  scheduleBackfill(): Promise<number> {
    if (this.backfillRun) {
      this.backfillAgain = true;
      return this.backfillRun;
    }
    this.backfillRun = (async () => {
      let embedded = 0;
      this.backfill.running = true;
      try {
        do {
          this.backfillAgain = false;
          const base = this.backfill.done;
          this.backfill.total = base + (await this.store.countMissingEmbeddings());
          embedded += await this.backfillEmbeddings((done, total) => {
            this.backfill.done = base + done;
            this.backfill.total = base + total;
            this.onBackfillProgress?.(this.backfill.done, this.backfill.total);
          });
        } while (this.backfillAgain);
      } finally {
        this.backfill.running = false;
        this.backfillRun = null;
      }
      return embedded;
    })();
    return this.backfillRun;
  }

  /** Embed every memory that lacks a vector of the current model. Progress via callback. */
  backfillEmbeddings(onProgress?: (done: number, total: number) => void, batchSize = 64): Promise<number> {
    return embedMissingVectors(this.store, () => this.embedder, onProgress, batchSize);
  }

  // ---------------------------------------------------------------- helpers

  /** Content as it may be stored: secrets replaced, unless `redactSecrets: false`. */
  redactSecrets(content: string): RedactionResult {
    return this.redaction ? redactSecrets(content) : { text: content, redacted: [] };
  }

  private prepare(body: RememberBody): PreparedMemory {
    const redaction = this.redactSecrets(body.content);
    const content = this.checkContent(redaction.text, "content");
    checkContext(body.context, this.sizes);
    const now = this.now().toISOString();
    const expiresAt = resolveExpiresAt(body, new Date(now));
    const tags = [...new Set((body.tags ?? []).map((t) => t.trim()).filter(Boolean))].sort();
    checkTags(tags, this.sizes);
    const memory: Memory = {
      id: newMemoryId(),
      content,
      source_type: body.source_type ?? "auto_capture",
      source_instance: body.source_instance ?? this.instanceId,
      tags,
      context: body.context ?? null,
      confidence: body.confidence ?? 1,
      supersedes: body.supersedes ?? null,
      duplicate_of: null,
      created_at: now,
      updated_at: now,
      deleted: false,
      ...(expiresAt ? { expires_at: expiresAt } : {}),
      ...(body.project ? { project: body.project } : {}),
    };
    return {
      memory,
      key: dedupKey(content),
      skipDedup: body.skip_dedup === true || memory.supersedes !== null,
      redacted: redaction.redacted,
    };
  }

  checkContent(raw: string, field: string): string {
    return checkedContent(raw, field, this.sizes.maxContentBytes);
  }

  private async requireMemory(id: string, field: string): Promise<Memory> {
    const m = await this.store.get(id);
    if (!m) throw new TribalError("MEMORY_NOT_FOUND", `${field}: no memory ${id}.`);
    return m;
  }
}
