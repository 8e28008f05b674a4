import { extractEntities } from "@tribalmemory/shared/entities/extract";
import { TribalError } from "@tribalmemory/shared/errors";
import { contentHash } from "@tribalmemory/shared/memory/content";
import { expiresMs } from "@tribalmemory/shared/memory/expiry";
import type { Memory, MemoryFilters, StoredEmbedding } from "@tribalmemory/shared/memory/types";
import {
  decodeListCursor,
  encodeListCursor,
  isIntegerKey,
  MEMORY_COLUMNS,
  type MemoryRow,
  toMemory,
} from "@tribalmemory/shared/store/memory-rows";
import type {
  EntityEdge,
  EntityHit,
  EntitySummary,
  ListPage,
  MemoryStore,
  SearchHit,
  StoreStats,
  StoreWrite,
} from "@tribalmemory/shared/store/memory-store";
import { pageOf } from "@tribalmemory/shared/store/paging";
import Database from "better-sqlite3";
import * as sqliteVec from "sqlite-vec";
import { EntityReindexer } from "./entity-reindex.ts";
import { loadFtsScorer } from "./fts-extension.ts";
import { FtsMerger } from "./fts-merge.ts";
import { type IndexOpenReport, PersistedVectorIndex } from "./persisted-vector-index.ts";
import { addLaterColumns, SCHEMA_SQL, SCHEMA_VERSION } from "./schema.ts";
import { SqliteCounts } from "./sqlite-counts.ts";
import { SqliteEntityIndex } from "./sqlite-entities.ts";
import { FileScrubber, SCRUB_PENDING_META } from "./sqlite-file-scrub.ts";
import { buildFilters } from "./sqlite-filters.ts";
import { ReadRouter, type ReadRouterOptions } from "./sqlite-read-router.ts";
import {
  firstVisible,
  idsOfRids,
  type StatementOf,
  searchVectorIndex,
  visibleRids,
} from "./sqlite-rid-lookup.ts";
import { type ConsistencyReport, consistencyReport } from "./sqlite-stats.ts";
import { FTS_INDEX_VERSION, ThreadFts } from "./sqlite-thread-fts.ts";
import { storedVectors } from "./stored-vectors.ts";
import { TermStatsKeeper, type TermStatsOptions } from "./term-stats-build.ts";
import { toBlob } from "./vectors.ts";

/** SQLite's row: the shared columns and the rowid every side table keys on. */
type SqliteMemoryRow = MemoryRow & { rid: number };

const ROW_COLUMNS = `m.rid, ${MEMORY_COLUMNS}`;

type MissingEmbedding = { id: string; content: string; contentHash: string };

/** Set when every write of the store ran with secure_delete (a store created by this code). */
const SECURE_DELETE_META = "secure_delete";

export interface SqliteStoreOptions {
  /** File path, or ":memory:" for tests. */
  path: string;
  /** Run keyword search on a second, read-only connection in a worker thread (file stores only). */
  readWorker?: boolean;
  /** When a keyword ranking is split over several read workers (sqlite-read-router.ts). */
  keywordSplit?: ReadRouterOptions;
  /** Progress of a keyword index rebuild at open (a data folder of an older layout). */
  onReindex?: (done: number, total: number) => void;
  /** How the vector index opened: rebuilt from vec0 (told at once), or read from its snapshot (once read). */
  onVectorIndex?: (report: IndexOpenReport) => void;
  /** When common terms' counts are kept (term-stats-build.ts). */
  termStats?: TermStatsOptions;
  /** Keyword index pages a purge's rewrite does per step (sqlite-file-scrub.ts). */
  scrubStepPages?: number;
}

/** The daemon's MemoryStore: SQLite (WAL) + FTS5 + sqlite-vec, one transaction per write. */
export class SqliteMemoryStore implements MemoryStore {
  readonly db: Database.Database;
  /** How keyword search scores (fts-extension.ts): `tm_bm25` where it is built, else `bm25`. */
  readonly keywordScorer: "tm_bm25" | "bm25";
  private model: { modelId: string; dims: number } | null = null;
  /** The vector index, saved beside the database file (persisted-vector-index.ts). */
  private readonly vectors: PersistedVectorIndex;
  private readonly reads: ReadRouter;
  private readonly counts: SqliteCounts;
  private readonly scrubber: FileScrubber;
  /** Index changes of the open transaction, applied only once it commits. */
  private pendingIndex: (() => void)[] = [];
  private readonly stmts;
  private readonly entities: SqliteEntityIndex;
  private readonly thread: ThreadFts;
  /** Re-extracts an older release's entity index in the background (entity-reindex.ts). */
  readonly entityReindex: EntityReindexer;
  /** Merges a small store's keyword index once writes go quiet (fts-merge.ts). */
  private readonly ftsMerger: FtsMerger;
  /** Keeps a large store's common terms counted (term-stats.ts); `ready()`: none counting. */
  readonly termStats: TermStatsKeeper;

  constructor(options: SqliteStoreOptions) {
    this.db = new Database(options.path);
    const isFile = options.path !== ":memory:" && options.path !== "";
    this.vectors = new PersistedVectorIndex(this.db, isFile ? `${options.path}.vectors` : null);
    this.reads = new ReadRouter(
      this.db,
      this.statementOf,
      options.readWorker !== false && options.path !== ":memory:" && options.path !== ""
        ? options.path
        : null,
      options.keywordSplit,
    );
    this.counts = new SqliteCounts(this.db, this.reads);
    this.scrubber = new FileScrubber(this.db, {
      wasAlwaysSecure: () => this.getMeta(SECURE_DELETE_META) === "1",
      markAlwaysSecure: () => this.setMeta(SECURE_DELETE_META, "1"),
      stepPages: options.scrubStepPages,
    });
    sqliteVec.load(this.db);
    this.keywordScorer = loadFtsScorer(this.db) ? "tm_bm25" : "bm25";
    this.db.pragma("journal_mode = WAL");
    // NORMAL is durable across process crashes in WAL mode (only power loss can drop the
    // last transactions), at a fraction of FULL's fsync cost.
    this.db.pragma("synchronous = NORMAL");
    this.db.pragma("busy_timeout = 5000");
    this.db.pragma("cache_size = -65536");
    // A purge must leave the text in no file: deleted and moved cells and freed pages are
    // zeroed, not left in free space (see purgeSync). The cost on remember/forget was below
    // the noise of this shared machine (2000 remembers varied 6-39 s either way).
    this.db.pragma("secure_delete = ON");
    this.db.exec(SCHEMA_SQL);
    addLaterColumns(this.db);
    const version = this.getMeta("schema_version");
    if (version === null) {
      this.setMeta("schema_version", String(SCHEMA_VERSION));
      this.setMeta(SECURE_DELETE_META, "1");
    } else if (Number(version) > SCHEMA_VERSION) {
      throw new TribalError(
        "INTERNAL",
        `The data folder was written by a newer TribalMemory (schema ${version}); upgrade this one.`,
      );
    }
    const modelId = this.getMeta("embedding_model");
    const dims = this.getMeta("embedding_dims");
    this.stmts = {
      byId: this.db.prepare(`SELECT ${ROW_COLUMNS} FROM memories m WHERE m.id = ?`),
      ridById: this.db.prepare("SELECT rid, content_hash FROM memories WHERE id = ?"),
      insertMemory: this.db.prepare(
        `INSERT INTO memories (id, content, content_hash, dedup_key, source_type, source_instance, tags, context, confidence, supersedes, duplicate_of, created_at, updated_at, created_ms, deleted, expires_ms, project)
         VALUES (@id, @content, @content_hash, @dedup_key, @source_type, @source_instance, @tags, @context, @confidence, @supersedes, @duplicate_of, @created_at, @updated_at, @created_ms, @deleted, @expires_ms, @project)`,
      ),
      updateMemory: this.db.prepare(
        `UPDATE memories SET content=@content, content_hash=@content_hash, dedup_key=@dedup_key, source_type=@source_type, source_instance=@source_instance,
         tags=@tags, context=@context, confidence=@confidence, supersedes=@supersedes, duplicate_of=@duplicate_of, created_at=@created_at,
         updated_at=@updated_at, created_ms=@created_ms, deleted=@deleted, expires_ms=@expires_ms, project=@project WHERE rid=@rid`,
      ),
      upsertDoc: this.db.prepare(
        "INSERT INTO docs (rid, bytes) VALUES (?, ?) ON CONFLICT(rid) DO UPDATE SET bytes = excluded.bytes",
      ),
      getDoc: this.db.prepare("SELECT d.bytes FROM docs d JOIN memories m ON m.rid = d.rid WHERE m.id = ?"),
      insertChange: this.db.prepare(
        "INSERT OR IGNORE INTO changes (doc_id, hash, deps, bytes, origin, created_ms) VALUES (?, ?, ?, ?, ?, ?)",
      ),
      insertOutbox: this.db.prepare("INSERT INTO outbox (seq) VALUES (?)"),
      deleteTags: this.db.prepare("DELETE FROM memory_tags WHERE rid = ?"),
      insertTag: this.db.prepare("INSERT OR IGNORE INTO memory_tags (tag, rid) VALUES (?, ?)"),
      upsertEmbedding: this.db.prepare(
        "INSERT INTO embeddings (rid, model_id, content_hash) VALUES (?, ?, ?) ON CONFLICT(rid) DO UPDATE SET model_id=excluded.model_id, content_hash=excluded.content_hash",
      ),
      deleteEmbedding: this.db.prepare("DELETE FROM embeddings WHERE rid = ?"),
      byDedup: this.db.prepare(
        `SELECT ${ROW_COLUMNS} FROM memories m WHERE m.dedup_key = ? AND m.deleted = 0 AND m.duplicate_of IS NULL ORDER BY m.rid LIMIT 1`,
      ),
    };
    this.entities = new SqliteEntityIndex(
      this.db,
      this.statementOf,
      (rids, where) => visibleRids(this.statementOf, rids, where),
      (sql, params) => this.reads.rowsAside(sql, params ?? {}),
    );
    this.ftsMerger = new FtsMerger(this.db);
    const statsOf = isFile && this.keywordScorer === "tm_bm25" ? options.path : null; // needs tm_token
    this.termStats = new TermStatsKeeper(this.db, statsOf, options.termStats);
    const meta = { get: (k: string) => this.getMeta(k), set: (k: string, v: string) => this.setMeta(k, v) };
    this.entityReindex = new EntityReindexer(this.db, this.entities, meta);
    this.thread = new ThreadFts(this.db, meta, () => {
      this.ftsMerger.wrote();
      this.termStats.wrote();
    });
    if (this.getMeta("fts_index_version") !== FTS_INDEX_VERSION) {
      this.db
        .transaction(() => this.setMeta("fts_index_version", this.thread.rebuild(options.onReindex)))
        .immediate();
    }
    this.thread.startLinkFill();
    this.entityReindex.start();
    this.ftsMerger.wrote(); // an index written before, by another release or a bulk build
    if (this.getMeta(SCRUB_PENDING_META) !== null) void this.scrubber.afterPurge(); // cut short by a crash
    if (modelId && dims) {
      this.model = { modelId, dims: Number(dims) };
      this.vectors.open(this.model.dims, options.onVectorIndex);
    }
    this.reads.start();
    this.termStats.check(true);
  }

  private readonly statements = new Map<string, Database.Statement>();
  /** `sql` as a function for the lookups outside this class. */
  private readonly statementOf: StatementOf = (text) => this.sql(text);

  /** Prepared statements cached by SQL text: preparing costs more than running most queries. */
  private sql(text: string): Database.Statement {
    let st = this.statements.get(text);
    if (!st) {
      st = this.db.prepare(text);
      this.statements.set(text, st);
    }
    return st;
  }

  // ------------------------------------------------------------ writes

  async write(writes: StoreWrite[]): Promise<void> {
    this.writeSync(writes, "local");
  }

  /** Synchronous core of `write`, also used by sync to apply remote changes. */
  writeSync(writes: StoreWrite[], origin: "local" | "remote"): void {
    this.pendingIndex = [];
    const tx = this.db.transaction((items: StoreWrite[]) => {
      const nowMs = Date.now();
      for (const w of items) {
        const m = w.memory;
        const existing = this.stmts.ridById.get(m.id) as { rid: number; content_hash: string } | undefined;
        const hash = contentHash(m.content);
        const row = {
          id: m.id,
          content: m.content,
          content_hash: hash,
          dedup_key: w.dedupKey,
          source_type: m.source_type,
          source_instance: m.source_instance,
          tags: JSON.stringify(m.tags),
          context: m.context === null ? null : JSON.stringify(m.context),
          confidence: m.confidence,
          supersedes: m.supersedes,
          duplicate_of: m.duplicate_of,
          created_at: m.created_at,
          updated_at: m.updated_at,
          created_ms: Date.parse(m.created_at) || 0,
          deleted: m.deleted ? 1 : 0,
          expires_ms: expiresMs(m),
          project: m.project ?? null,
        };
        let rid: number;
        if (existing) {
          rid = existing.rid;
          this.thread.touch(rid); // its old neighbours lose it
          this.stmts.updateMemory.run({ ...row, rid });
          this.stmts.deleteTags.run(rid);
        } else {
          rid = Number(this.stmts.insertMemory.run(row).lastInsertRowid);
        }
        this.stmts.upsertDoc.run(rid, w.docBytes);
        const change = this.stmts.insertChange.run(
          w.change.docId,
          w.change.hash,
          JSON.stringify(w.change.deps),
          w.change.bytes,
          origin,
          nowMs,
        );
        if (origin === "local" && change.changes > 0) this.stmts.insertOutbox.run(change.lastInsertRowid);
        for (const tag of m.tags) this.stmts.insertTag.run(tag, rid);
        const hidden = m.deleted || m.duplicate_of !== null;
        this.thread.mark(rid);
        if (m.supersedes) this.thread.touchId(m.supersedes); // no longer its neighbours' context
        this.entities.index(rid, hidden ? null : m.content, row.created_ms);
        if (hidden) {
          this.removeVector(rid);
        } else if (w.embedding && this.model && w.embedding.modelId === this.model.modelId) {
          this.putVector(rid, w.embedding);
        } else if (existing && existing.content_hash !== hash) {
          this.removeVector(rid);
        }
      }
      this.thread.flush();
    });
    try {
      tx.immediate(writes);
      for (const apply of this.pendingIndex) apply();
    } finally {
      this.pendingIndex = [];
      this.thread.discard();
    }
  }

  private putVector(rid: number, e: StoredEmbedding): void {
    if (!this.model || e.vector.length !== this.model.dims) {
      throw new TribalError(
        "INTERNAL",
        `Embedding has ${e.vector.length} dims; the store holds ${this.model?.dims}.`,
      );
    }
    this.vectors.invalidate();
    this.stmts.upsertEmbedding.run(rid, e.modelId, e.contentHash);
    this.sql("DELETE FROM vec_memories WHERE rowid = ?").run(BigInt(rid));
    this.sql("INSERT INTO vec_memories (rowid, embedding) VALUES (?, ?)").run(BigInt(rid), toBlob(e.vector));
    const vector = Float32Array.from(e.vector);
    this.pendingIndex.push(() => this.vectors.apply((index) => index.upsert(rid, vector)));
  }

  private removeVector(rid: number): void {
    this.stmts.deleteEmbedding.run(rid);
    if (!this.model) return;
    this.vectors.invalidate();
    this.sql("DELETE FROM vec_memories WHERE rowid = ?").run(BigInt(rid));
    this.pendingIndex.push(() => this.vectors.apply((index) => index.remove(rid)));
  }

  /**
   * Hard delete (a purge, local or from the relay): row, document, changes, outbox entries, vector,
   * FTS, tags, event dates, entities or aliases only this memory named; in the caller's transaction
   * when there is one. Deleted cells are zeroed (secure_delete); `FileScrubber` then rewrites the
   * keyword index and truncates the WAL, which still hold the text (`purge` waits for it).
   */
  purgeSync(id: string): boolean {
    return this.purgeRows(id).found;
  }

  private purgeRows(id: string): { found: boolean; scrubbed: Promise<void> | null } {
    this.pendingIndex = [];
    const { found, touched } = this.db
      .transaction(() => {
        this.sql("DELETE FROM outbox WHERE seq IN (SELECT seq FROM changes WHERE doc_id = ?)").run(id);
        const changes = this.sql("DELETE FROM changes WHERE doc_id = ?").run(id).changes;
        const row = this.sql("SELECT rid, content FROM memories WHERE id = ?").get(id) as
          | { rid: number; content: string }
          | undefined;
        if (row || changes > 0) this.setMeta(SCRUB_PENDING_META, "1"); // FileScrubber clears it
        if (!row) return { found: false, touched: changes > 0 };
        // A memory forgotten before its purge no longer links its entities: extract them again.
        const named = [...this.entities.namesOf(row.rid), ...extractEntities(row.content).map((e) => e.name)];
        this.thread.touch(row.rid);
        this.stmts.deleteTags.run(row.rid);
        this.entities.index(row.rid, null, 0);
        this.removeVector(row.rid);
        this.sql("DELETE FROM docs WHERE rid = ?").run(row.rid);
        this.sql("DELETE FROM memories WHERE rid = ?").run(row.rid);
        this.thread.flush();
        this.entities.prune(named);
        return { found: true, touched: true };
      })
      .immediate();
    for (const apply of this.pendingIndex) apply();
    this.pendingIndex = [];
    return { found, scrubbed: touched ? this.scrubber.afterPurge() : null };
  }

  /** True when a change of this memory came from the relay or was acknowledged by it. */
  hasLeftThisMachine(id: string): boolean {
    return (
      this.sql(
        "SELECT 1 FROM changes c WHERE c.doc_id = ? AND (c.origin = 'remote' OR c.seq NOT IN (SELECT seq FROM outbox)) LIMIT 1",
      ).get(id) !== undefined
    );
  }

  /** Purge, and leave no trace in any file before returning (FileScrubber). */
  async purge(id: string): Promise<boolean> {
    const { found, scrubbed } = this.purgeRows(id);
    await scrubbed;
    return found;
  }

  // ------------------------------------------------------------ reads

  async get(id: string): Promise<Memory | null> {
    const row = this.stmts.byId.get(id) as SqliteMemoryRow | undefined;
    return row ? toMemory(row) : null;
  }

  async getMany(ids: string[]): Promise<Memory[]> {
    if (!ids.length) return [];
    const rows = this.sql(
      `SELECT ${ROW_COLUMNS} FROM memories m WHERE m.id IN (SELECT value FROM json_each(?))`,
    ).all(JSON.stringify(ids)) as SqliteMemoryRow[];
    const byId = new Map(rows.map((r) => [r.id, toMemory(r)]));
    return ids.flatMap((id) => byId.get(id) ?? []);
  }
  async storedVectors(ids: string[], modelId: string): Promise<Map<string, Float32Array>> {
    return this.model?.modelId === modelId ? storedVectors(this.statementOf, ids, modelId) : new Map();
  }

  async getDoc(id: string): Promise<Uint8Array | null> {
    const row = this.stmts.getDoc.get(id) as { bytes: Buffer } | undefined;
    return row ? new Uint8Array(row.bytes) : null;
  }

  async findByDedupKey(key: string): Promise<Memory | null> {
    const row = this.stmts.byDedup.get(key) as SqliteMemoryRow | undefined;
    return row ? toMemory(row) : null;
  }

  async supersededAmong(ids: string[]): Promise<Set<string>> {
    const rows = this.sql(
      "SELECT DISTINCT supersedes AS id FROM memories WHERE deleted = 0 AND supersedes IN (SELECT value FROM json_each(?))",
    ).all(JSON.stringify(ids)) as { id: string }[];
    return new Set(rows.map((r) => r.id));
  }

  async supersedersOf(id: string): Promise<string[]> {
    const rows = this.sql(
      "SELECT id FROM memories WHERE deleted = 0 AND supersedes = ? ORDER BY created_ms DESC, rid DESC",
    ).all(id) as { id: string }[];
    return rows.map((r) => r.id);
  }

  async list(options: { filters: MemoryFilters; limit: number; cursor: string | null }): Promise<ListPage> {
    const where = buildFilters(options.filters);
    const params: Record<string, unknown> = { ...where.params, limit: options.limit + 1 };
    let cursorSql = "";
    if (options.cursor) {
      const [ms, rid] = decodeListCursor(options.cursor, isIntegerKey);
      cursorSql = " AND (m.created_ms < @cms OR (m.created_ms = @cms AND m.rid < @crid))";
      params.cms = ms;
      params.crid = rid;
    }
    const rows = this.sql(
      `SELECT ${ROW_COLUMNS}, m.created_ms FROM memories m WHERE ${where.sql}${cursorSql} ORDER BY m.created_ms DESC, m.rid DESC LIMIT @limit`,
    ).all(params) as (SqliteMemoryRow & { created_ms: number })[];
    return pageOf(rows, options.limit, toMemory, (r) => encodeListCursor(r.created_ms, r.rid));
  }

  async vectorSearch(vector: Float32Array, k: number, filters: MemoryFilters): Promise<SearchHit[]> {
    await this.vectors.ready();
    const index = this.vectors.index;
    if (!this.model || !index || vector.length !== this.model.dims || index.size === 0) return [];
    return searchVectorIndex(this.statementOf, index, vector, k, buildFilters(filters));
  }

  async keywordSearch(
    terms: string[],
    k: number,
    filters: MemoryFilters,
    options: { thread?: boolean } = {},
  ): Promise<SearchHit[]> {
    if (!terms.length) return [];
    const where = buildFilters(filters);
    const thread = options.thread === true;
    if (where.selective) {
      // The filter (visibility included) is joined to each match: its rows need only their ids.
      const rows = await this.reads.keywordTop(terms, k, thread, { sql: where.sql, params: where.params });
      return idsOfRids(this.statementOf, rows);
    }
    // Rank in FTS5 alone, then apply visibility to the few best: joining every match to
    // memories cost 5 of 14 ms at 100k memories (8.5k matches per query).
    let limit = Math.max(k * 2, 50);
    for (;;) {
      const rows = await this.reads.keywordTop(terms, limit, thread, null);
      const kept = firstVisible(this.statementOf, rows, where, k);
      if (kept.length >= k || rows.length < limit) return kept;
      limit *= 4;
    }
  }

  async threadNeighbours(ids: string[], filters: MemoryFilters = {}) {
    return this.thread.neighbourIds(ids, buildFilters(filters));
  }

  // ------------------------------------------------------------ entities

  entitySearch(names: string[], k: number, filters: MemoryFilters, options = {}): Promise<EntityHit[]> {
    return this.entities.search(names, k, filters, options);
  }

  listEntities(options: { limit: number; prefix?: string; type?: string }): Promise<EntitySummary[]> {
    return this.entities.list(options);
  }

  resolveEntities(names: string[]): Promise<{ name: string; type: string }[]> {
    return this.entities.resolve(names);
  }

  entityNeighbours(names: string[], perEntity: number): Promise<EntityEdge[]> {
    return this.entities.neighbours(names, perEntity);
  }

  countLive(): Promise<number> {
    return this.counts.liveMemories();
  }

  async stats(): Promise<StoreStats> {
    return this.counts.stats();
  }

  // ------------------------------------------------------------ embeddings

  async embeddingModel(): Promise<{ modelId: string; dims: number } | null> {
    return this.model;
  }

  async setEmbeddingModel(modelId: string, dims: number): Promise<void> {
    if (this.model && this.model.modelId === modelId && this.model.dims === dims) {
      this.vectors.createTable(dims);
      return;
    }
    this.db
      .transaction(() => {
        this.db.exec("DELETE FROM embeddings; DROP TABLE IF EXISTS vec_memories;");
        this.setMeta("embedding_model", modelId);
        this.setMeta("embedding_dims", String(dims));
      })
      .immediate();
    this.model = { modelId, dims };
    this.vectors.reset(dims);
  }

  async putEmbeddings(items: { id: string; embedding: StoredEmbedding }[]): Promise<void> {
    this.pendingIndex = [];
    this.db
      .transaction(() => {
        for (const item of items) {
          const row = this.stmts.ridById.get(item.id) as { rid: number; content_hash: string } | undefined;
          // Content changed while the vector was being computed: the next backfill round redoes it.
          if (!row || row.content_hash !== item.embedding.contentHash) continue;
          this.putVector(row.rid, item.embedding);
        }
      })
      .immediate();
    for (const apply of this.pendingIndex) apply();
    this.pendingIndex = [];
  }

  async missingEmbeddings(limit: number, afterId: string | null = null): Promise<MissingEmbedding[]> {
    if (!this.model) return [];
    return this.sql(
      `SELECT m.id, m.content, m.content_hash AS contentHash FROM memories m LEFT JOIN embeddings e ON e.rid = m.rid
       WHERE m.deleted = 0 AND m.duplicate_of IS NULL AND (e.rid IS NULL OR e.model_id != @model OR e.content_hash != m.content_hash)
         AND m.id > @after
       ORDER BY m.id LIMIT @limit`,
    ).all({ model: this.model.modelId, limit, after: afterId ?? "" }) as MissingEmbedding[];
  }

  /**
   * A vector is dropped when its memory is hidden or its content changes, and all of them when
   * the model does: as many vectors as memories means none is missing (two counts of ~1 ms at
   * 1M rows). Otherwise counted on the read worker (the scan held the event loop ~4 s at 1M).
   */
  async countMissingEmbeddings(): Promise<number> {
    if (!this.model) return 0;
    const indexed = await this.vectors.ready().then(
      () => this.vectors.index?.size ?? null,
      () => null,
    );
    return this.counts.missingVectors(this.model.modelId, indexed);
  }

  /** Resolves once the vector index is in place (its snapshot is read off the main thread). */
  vectorIndexReady(): Promise<void> {
    return this.vectors.ready();
  }

  /** Whether the vector index is in place yet (health shows it). */
  vectorIndexState(): "none" | "loading" | "ready" | "failed" {
    return this.vectors.state;
  }

  async close(): Promise<void> {
    await Promise.all([this.reads.close(), this.termStats.close()]);
    await this.vectors.ready().catch(() => undefined); // a failed index has nothing to save
    this.vectors.save();
    this.thread.stopLinkFill();
    this.entityReindex.stop();
    if (this.db.open) this.ftsMerger.finish();
    if (this.db.open) this.scrubber.finish();
    if (this.db.open) this.db.close();
  }

  termFrequencies(terms: string[]): Promise<{ docs: number; df: number[] }> {
    return this.reads.termFrequencies(terms);
  }

  // ------------------------------------------------------------ meta

  getMeta(key: string): string | null {
    const row = this.sql("SELECT value FROM meta WHERE key = ?").get(key) as { value: string } | undefined;
    return row ? row.value : null;
  }

  setMeta(key: string, value: string): void {
    this.sql(
      "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    ).run(key, value);
  }

  /** Integrity check used by crash tests and `tribalmemory doctor`: every part or none. */
  consistencyReport(): ConsistencyReport {
    return consistencyReport(this.statementOf);
  }
}
