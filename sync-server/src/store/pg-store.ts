import { extractEntities } from "@tribalmemory/shared/entities/extract";
import { TribalError } from "@tribalmemory/shared/errors";
import type { Memory, MemoryFilters, StoredEmbedding } from "@tribalmemory/shared/memory/types";
import {
  decodeListCursor,
  encodeListCursor,
  isStringKey,
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
import type { RelayDatabase, Sql } from "./database.ts";
import { PgEntityIndex } from "./pg-entities.ts";
import { filterSql, Params } from "./pg-filters.ts";
import { type IngestItem, type IngestOutcome, type IngestQuota, ingestIn } from "./pg-ingest.ts";
import { type LogPage, logHead, notifyLogHead, readLogIn } from "./pg-log.ts";
import { keywordSearchIn, TermFrequencies, vectorSearchIn } from "./pg-search.ts";
import { parseVector, vectorText } from "./pg-vectors.ts";

export type { IngestItem, IngestOutcome, IngestQuota } from "./pg-ingest.ts";
export { EVENTS_CHANNEL } from "./pg-log.ts";
export { vectorText } from "./pg-vectors.ts";

/** Tables that hold a memory's text (or names taken from it): rewritten after a purge. */
const PURGE_SCRUB_TABLES = ["memories", "changes", "memory_entities", "entities", "entity_aliases"];

/**
 * The relay's MemoryStore for one workspace: Postgres (or PGlite) with pgvector. A thin
 * composition over one file per idea: every write, local (the relay's own /v1 API) or remote
 * (sync push), goes through `ingest` (pg-ingest.ts); the log is read by pg-log.ts; search by
 * pg-search.ts; the entity index by pg-entities.ts. Row mapping, cursors and entity scoring
 * are shared with the daemon's SQLite store (`@tribalmemory/shared/store`).
 */
export class PgMemoryStore implements MemoryStore {
  readonly db: RelayDatabase;
  readonly workspaceId: string;
  private readonly actor: string;
  private model: { modelId: string; dims: number } | null | undefined;
  /** Called after a commit that appended to the log (the relay wakes its own sockets). */
  onCommit: ((head: number) => void) | null = null;
  /** The workspace plan's memory limit, checked in every ingest (plans/quota.ts); null: none. */
  quota: IngestQuota | null = null;
  private readonly entities: PgEntityIndex;
  private readonly termCounts = new TermFrequencies();

  constructor(db: RelayDatabase, workspaceId: string, options: { actor: string }) {
    this.db = db;
    this.workspaceId = workspaceId;
    this.actor = options.actor;
    this.entities = new PgEntityIndex(db, workspaceId);
  }

  private tx<T>(fn: (sql: Sql) => Promise<T>): Promise<T> {
    return this.db.tx(this.workspaceId, fn);
  }

  /** Recall's searches: on the read replica when the relay has one (database.ts `readTx`). */
  private readTx<T>(fn: (sql: Sql) => Promise<T>): Promise<T> {
    return this.db.readTx(this.workspaceId, fn);
  }

  // ------------------------------------------------------------ writes

  async write(writes: StoreWrite[]): Promise<void> {
    if (!writes.length) return;
    const outcome = await this.ingest(
      writes.map((w) => ({ change: w.change, embedding: w.embedding ?? null })),
      null,
      { quotaRefusesAll: true },
    );
    if (outcome.error) throw outcome.error;
  }

  /** Append changes (a device's push, or the relay's own writes), in order, in one transaction. */
  async ingest(
    items: IngestItem[],
    deviceId: string | null,
    options: { quotaRefusesAll?: boolean } = {},
  ): Promise<IngestOutcome> {
    const ctx = {
      quota: this.quota,
      quotaRefusesAll: options.quotaRefusesAll === true,
      workspaceId: this.workspaceId,
      actor: this.actor,
      entities: this.entities,
      adoptModel: (model: { modelId: string; dims: number }) => {
        this.model = model;
      },
    };
    const outcome = await this.tx((sql) => ingestIn(ctx, sql, items, deviceId, true));
    if (outcome.results.some((r) => r.status === "stored")) this.onCommit?.(outcome.head);
    return outcome;
  }

  /**
   * Hard delete: content, changes and vector go; a purge entry in the log makes every daemon
   * drop its copy, and later pushes for this memory are dropped. Returns false if unknown.
   * When it returns, the purge step has also rewritten the tables that held the memory
   * (`RelayDatabase.scrubDeleted`), so its text is in no table file (nor, on PGlite, in WAL).
   */
  async purge(id: string): Promise<boolean> {
    const head = await this.tx(async (sql) => {
      await sql.query("SELECT 1 FROM workspaces WHERE id = $1 FOR UPDATE", [this.workspaceId]);
      const gone = await sql.query<{ content: string }>(
        "DELETE FROM memories WHERE workspace_id = $1 AND id = $2 RETURNING content",
        [this.workspaceId, id],
      );
      if (!gone.length) return null;
      await sql.query("DELETE FROM changes WHERE workspace_id = $1 AND doc_id = $2", [this.workspaceId, id]);
      const named = await sql.query<{ entity: string }>(
        "DELETE FROM memory_entities WHERE workspace_id = $1 AND memory_id = $2 RETURNING entity",
        [this.workspaceId, id],
      );
      await sql.query("DELETE FROM memory_event_dates WHERE workspace_id = $1 AND memory_id = $2", [
        this.workspaceId,
        id,
      ]);
      // A memory deleted before its purge no longer links its entities: extract them again.
      await this.entities.pruneIn(sql, [
        ...named.map((r) => r.entity),
        ...extractEntities(gone[0].content).map((e) => e.name),
      ]);
      await sql.query(
        "INSERT INTO purged_docs (workspace_id, doc_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        [this.workspaceId, id],
      );
      const [{ s }] = await sql.query<{ s: string }>(
        "UPDATE workspaces SET next_seq = next_seq + 1 WHERE id = $1 RETURNING (next_seq - 1)::text AS s",
        [this.workspaceId],
      );
      await sql.query(
        "INSERT INTO changes (workspace_id, seq, kind, doc_id, hash) VALUES ($1, $2, 'purge', $3, $4)",
        [this.workspaceId, s, id, `purge:${id}`],
      );
      await notifyLogHead(sql, this.workspaceId, s);
      return Number(s);
    });
    if (head === null) return false;
    this.onCommit?.(head);
    await this.db.scrubDeleted(PURGE_SCRUB_TABLES);
    return true;
  }

  // ------------------------------------------------------------ log

  /**
   * Log entries with seq > cursor, and the current vectors of the memories they touch: at most
   * `limit` entries and `maxBytes` of JSON (the page budget, far below the clients' frame limit).
   */
  async readLog(
    cursor: number,
    limit: number,
    options: { skipDevice?: string | null; withEmbeddings?: boolean; maxBytes?: number } = {},
  ): Promise<LogPage> {
    return this.tx((sql) => readLogIn(sql, this.workspaceId, cursor, limit, options));
  }

  async head(): Promise<number> {
    return this.tx((sql) => logHead(sql, this.workspaceId));
  }

  // ------------------------------------------------------------ reads

  async get(id: string): Promise<Memory | null> {
    const [row] = await this.tx((sql) =>
      sql.query<MemoryRow>(
        `SELECT ${MEMORY_COLUMNS} FROM memories m WHERE m.workspace_id = $1 AND m.id = $2`,
        [this.workspaceId, id],
      ),
    );
    return row ? toMemory(row) : null;
  }

  async getMany(ids: string[]): Promise<Memory[]> {
    if (!ids.length) return [];
    const rows = await this.tx((sql) =>
      sql.query<MemoryRow>(
        `SELECT ${MEMORY_COLUMNS} FROM memories m WHERE m.workspace_id = $1 AND m.id = ANY($2::text[])`,
        [this.workspaceId, ids],
      ),
    );
    const byId = new Map(rows.map((r) => [r.id, toMemory(r)]));
    return ids.flatMap((id) => byId.get(id) ?? []);
  }

  async getDoc(id: string): Promise<Uint8Array | null> {
    const [row] = await this.tx((sql) =>
      sql.query<{ doc: Uint8Array }>("SELECT doc FROM memories WHERE workspace_id = $1 AND id = $2", [
        this.workspaceId,
        id,
      ]),
    );
    return row ? new Uint8Array(row.doc) : null;
  }

  async findByDedupKey(key: string): Promise<Memory | null> {
    const [row] = await this.tx((sql) =>
      sql.query<MemoryRow>(
        `SELECT ${MEMORY_COLUMNS} FROM memories m WHERE m.workspace_id = $1 AND m.dedup_key = $2 AND NOT m.deleted AND m.duplicate_of IS NULL
         ORDER BY m.id LIMIT 1`,
        [this.workspaceId, key],
      ),
    );
    return row ? toMemory(row) : null;
  }

  async supersededAmong(ids: string[]): Promise<Set<string>> {
    if (!ids.length) return new Set();
    const rows = await this.tx((sql) =>
      sql.query<{ id: string }>(
        "SELECT DISTINCT supersedes AS id FROM memories WHERE workspace_id = $1 AND NOT deleted AND supersedes = ANY($2::text[])",
        [this.workspaceId, ids],
      ),
    );
    return new Set(rows.map((r) => r.id));
  }

  async supersedersOf(id: string): Promise<string[]> {
    const rows = await this.tx((sql) =>
      sql.query<{ id: string }>(
        "SELECT id FROM memories WHERE workspace_id = $1 AND NOT deleted AND supersedes = $2 ORDER BY created_ms DESC, id DESC",
        [this.workspaceId, id],
      ),
    );
    return rows.map((r) => r.id);
  }

  async list(options: { filters: MemoryFilters; limit: number; cursor: string | null }): Promise<ListPage> {
    await this.entities.ensureForFilters(options.filters);
    const p = new Params();
    const where = filterSql(this.workspaceId, options.filters, p);
    let cursorSql = "";
    if (options.cursor) {
      const [ms, id] = decodeListCursor(options.cursor, isStringKey);
      cursorSql = ` AND (m.created_ms, m.id) < (${p.add(ms)}::bigint, ${p.add(id)}::text)`;
    }
    const lim = p.add(options.limit + 1);
    const rows = await this.tx((sql) =>
      sql.query<MemoryRow & { cms: number }>(
        `SELECT ${MEMORY_COLUMNS}, m.created_ms::float8 AS cms FROM memories m WHERE ${where}${cursorSql}
         ORDER BY m.created_ms DESC, m.id DESC LIMIT ${lim}`,
        p.values,
      ),
    );
    return pageOf(rows, options.limit, toMemory, (r) => encodeListCursor(r.cms, r.id));
  }

  async vectorSearch(vector: Float32Array, k: number, filters: MemoryFilters): Promise<SearchHit[]> {
    await this.entities.ensureForFilters(filters);
    const model = await this.embeddingModel();
    if (!model || vector.length !== model.dims) return [];
    return this.readTx((sql) => vectorSearchIn(sql, this.workspaceId, model, vector, k, filters));
  }

  async keywordSearch(terms: string[], k: number, filters: MemoryFilters): Promise<SearchHit[]> {
    await this.entities.ensureForFilters(filters);
    if (!terms.length) return [];
    return this.readTx((sql) => keywordSearchIn(sql, this.workspaceId, terms, k, filters));
  }

  async termFrequencies(terms: string[]): Promise<{ docs: number; df: number[] }> {
    return this.readTx((sql) => this.termCounts.read(sql, this.workspaceId, terms));
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

  // ------------------------------------------------------------ stats and embeddings

  async stats(): Promise<StoreStats> {
    return this.tx(async (sql) => {
      const ws = [this.workspaceId];
      const live = "workspace_id = $1 AND NOT deleted AND duplicate_of IS NULL";
      const [c] = await sql.query<{
        total: number;
        deleted: number;
        superseded: number;
        embedded: number;
        bytes: number;
      }>(
        `SELECT count(*) FILTER (WHERE NOT deleted AND duplicate_of IS NULL)::int AS total,
                count(*) FILTER (WHERE deleted)::int AS deleted,
                count(DISTINCT supersedes) FILTER (WHERE supersedes IS NOT NULL AND NOT deleted AND duplicate_of IS NULL)::int AS superseded,
                count(embedding)::int AS embedded,
                coalesce(sum(octet_length(content) + octet_length(doc) + coalesce(embedding_dims, 0) * 4), 0)::float8
                  + (SELECT coalesce(sum(octet_length(bytes)), 0) FROM changes WHERE workspace_id = $1)::float8 AS bytes
         FROM memories WHERE workspace_id = $1`,
        ws,
      );
      const group = async (expr: string, extra = "") =>
        Object.fromEntries(
          (
            await sql.query<{ k: string; n: number }>(
              `SELECT ${expr} AS k, count(*)::int AS n FROM memories WHERE ${live} GROUP BY 1 ${extra}`,
              ws,
            )
          ).map((r) => [r.k, r.n]),
        );
      return {
        total_memories: c.total,
        deleted: c.deleted,
        superseded: c.superseded,
        embedded: c.embedded,
        by_source_type: await group("source_type"),
        by_source_instance: await group("source_instance"),
        by_tag: await group("unnest(tags)", "ORDER BY 2 DESC LIMIT 100"),
        storage_bytes: Math.round(c.bytes),
      };
    });
  }

  async countLive(): Promise<number> {
    const [r] = await this.tx((sql) =>
      sql.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM memories WHERE workspace_id = $1 AND NOT deleted AND duplicate_of IS NULL",
        [this.workspaceId],
      ),
    );
    return r.n;
  }

  // ------------------------------------------------------------ embeddings

  async embeddingModel(): Promise<{ modelId: string; dims: number } | null> {
    if (this.model !== undefined) return this.model;
    const [r] = await this.tx((sql) =>
      sql.query<{ m: string | null; d: number | null }>(
        "SELECT embedding_model AS m, embedding_dims AS d FROM workspaces WHERE id = $1",
        [this.workspaceId],
      ),
    );
    this.model = r?.m && r.d ? { modelId: r.m, dims: r.d } : null;
    return this.model;
  }

  async setEmbeddingModel(modelId: string, dims: number): Promise<void> {
    await this.tx(async (sql) => {
      await sql.query("UPDATE workspaces SET embedding_model = $2, embedding_dims = $3 WHERE id = $1", [
        this.workspaceId,
        modelId,
        dims,
      ]);
      await sql.query(
        `UPDATE memories SET embedding = NULL, embedding_model = NULL, embedding_hash = NULL, embedding_dims = NULL
         WHERE workspace_id = $1 AND embedding IS NOT NULL AND (embedding_model <> $2 OR embedding_dims <> $3)`,
        [this.workspaceId, modelId, dims],
      );
    });
    this.model = { modelId, dims };
  }

  async putEmbeddings(items: { id: string; embedding: StoredEmbedding }[]): Promise<void> {
    const model = await this.embeddingModel();
    const ok = items.filter((i) => model && i.embedding.modelId === model.modelId);
    for (const i of ok) {
      if (model && i.embedding.vector.length !== model.dims) {
        throw new TribalError(
          "INTERNAL",
          `Embedding has ${i.embedding.vector.length} dims; the workspace holds ${model.dims}.`,
        );
      }
    }
    if (!ok.length) return;
    await this.tx((sql) =>
      // Content changed while the vector was computed → no match on content_hash → skipped.
      sql.query(
        `UPDATE memories m SET embedding = t.v::vector, embedding_model = t.mid, embedding_hash = t.h, embedding_dims = t.d
         FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::int[]) AS t(id, v, mid, h, d)
         WHERE m.workspace_id = $1 AND m.id = t.id AND m.content_hash = t.h AND NOT m.deleted AND m.duplicate_of IS NULL`,
        [
          this.workspaceId,
          ok.map((i) => i.id),
          ok.map((i) => vectorText(i.embedding.vector)),
          ok.map((i) => i.embedding.modelId),
          ok.map((i) => i.embedding.contentHash),
          ok.map((i) => i.embedding.vector.length),
        ],
      ),
    );
  }

  /**
   * The vectors this workspace keeps for these memories, made by `modelId` from their current
   * text (an export reads them instead of running the model on every memory again).
   */
  async storedVectors(ids: string[], modelId: string): Promise<Map<string, Float32Array>> {
    if (!ids.length) return new Map();
    const rows = await this.tx((sql) =>
      sql.query<{ id: string; v: string }>(
        `SELECT id, embedding::text AS v FROM memories
         WHERE workspace_id = $1 AND id = ANY($2::text[]) AND embedding IS NOT NULL
           AND embedding_model = $3 AND embedding_hash = content_hash`,
        [this.workspaceId, ids, modelId],
      ),
    );
    return new Map(rows.map((r) => [r.id, parseVector(r.v)]));
  }

  private missingSql(): string {
    return `workspace_id = $1 AND NOT deleted AND duplicate_of IS NULL
      AND (embedding IS NULL OR embedding_model IS DISTINCT FROM $2 OR embedding_hash IS DISTINCT FROM content_hash)`;
  }

  async missingEmbeddings(
    limit: number,
    afterId: string | null = null,
  ): Promise<{ id: string; content: string; contentHash: string }[]> {
    const model = await this.embeddingModel();
    if (!model) return [];
    return this.tx((sql) =>
      sql.query<{ id: string; content: string; contentHash: string }>(
        `SELECT id, content, content_hash AS "contentHash" FROM memories
         WHERE ${this.missingSql()} AND ($4::text IS NULL OR id > $4::text) ORDER BY id LIMIT $3`,
        [this.workspaceId, model.modelId, limit, afterId],
      ),
    );
  }

  async countMissingEmbeddings(): Promise<number> {
    const model = await this.embeddingModel();
    if (!model) return 0;
    const [r] = await this.tx((sql) =>
      sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM memories WHERE ${this.missingSql()}`, [
        this.workspaceId,
        model.modelId,
      ]),
    );
    return r.n;
  }

  async close(): Promise<void> {
    // The database is shared by every workspace's store; its owner closes it.
  }
}
