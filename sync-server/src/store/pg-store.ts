import { extractEntities } from "@tribalmemory/shared/entities/extract";
import { TribalError } from "@tribalmemory/shared/errors";
import { contentHash, dedupKey } from "@tribalmemory/shared/memory/content";
import {
  type AutomergeMemoryDoc,
  applyMemoryChanges,
  editMemoryDoc,
  loadMemoryDoc,
  materializeMemory,
  saveMemoryDoc,
} from "@tribalmemory/shared/memory/document";
import type { ChangeRecord, Memory, MemoryFilters, StoredEmbedding } from "@tribalmemory/shared/memory/types";
import { extractEventDates } from "@tribalmemory/shared/recall/event-dates";
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
import { materializeRootChange, planDuplicateMerge } from "@tribalmemory/shared/sync/apply";
import {
  encodeBytes,
  encodeVector,
  type PushResult,
  syncPageBudget,
  type WireEmbedding,
  type WireEntry,
  wireEntryBytes,
} from "@tribalmemory/shared/sync/protocol";
import type { RelayDatabase, Sql } from "./database.ts";

/** Tables that hold a memory's text (or names taken from it): rewritten after a purge. */
const PURGE_SCRUB_TABLES = ["memories", "changes", "memory_entities", "entities", "entity_aliases"];

/** NOTIFY channel of the relay: `c:<workspace>:<seq>` after a commit, `r:<key id>` on revocation. */
export const EVENTS_CHANNEL = "tm_events";

export interface IngestItem {
  change: ChangeRecord;
  embedding?: StoredEmbedding | null;
}

export interface IngestOutcome {
  /** One per item before the first refused one, in order. */
  results: PushResult[];
  /** Why the item at `results.length` was refused; later items were not looked at. */
  error: TribalError | null;
  /** Highest seq in the log after this ingest (0 when empty). */
  head: number;
  /** Memory ids whose row changed. */
  touched: string[];
}

interface MemoryRow {
  id: string;
  content: string;
  source_type: string;
  source_instance: string;
  tags: string[];
  context: string | null;
  confidence: number;
  supersedes: string | null;
  duplicate_of: string | null;
  created_at: string;
  updated_at: string;
  deleted: boolean;
}

const COLUMNS =
  "m.id, m.content, m.source_type, m.source_instance, m.tags, m.context, m.confidence, m.supersedes, m.duplicate_of, m.created_at, m.updated_at, m.deleted";

/** Bump when extraction changes: workspaces re-index their entities and event dates. */
const ENTITY_INDEX_VERSION = 1;

/** What indexing one memory's entities and event dates needs; `content` null clears them. */
interface EntitySource {
  id: string;
  content: string | null;
  createdMs: number;
}

/** Positional parameters for a statement built piece by piece. */
class Params {
  readonly values: unknown[] = [];
  add(v: unknown): string {
    this.values.push(v);
    return `$${this.values.length}`;
  }
}

/**
 * The relay's MemoryStore for one workspace: Postgres (or PGlite) with pgvector. Every write,
 * local (the relay's own /v1 API) or remote (sync push), goes through `ingest`: the workspace
 * row is locked, changes get the next seqs, each document is merged with what the database
 * holds (so a stale cached document never overwrites changes another process ingested), the
 * materialised rows are upserted and a NOTIFY wakes every relay process's sockets.
 */
export class PgMemoryStore implements MemoryStore {
  readonly db: RelayDatabase;
  readonly workspaceId: string;
  private readonly actor: string;
  private model: { modelId: string; dims: number } | null | undefined;
  /** Called after a commit that appended to the log (the relay wakes its own sockets). */
  onCommit: ((head: number) => void) | null = null;
  /** Set once this workspace's entity index is known to be built by ENTITY_INDEX_VERSION. */
  private entityIndexReady = false;
  /** Document frequencies per term, kept until the live memory count moves by a tenth. */
  private readonly dfCache = new Map<string, { df: number; docs: number }>();

  constructor(db: RelayDatabase, workspaceId: string, options: { actor: string }) {
    this.db = db;
    this.workspaceId = workspaceId;
    this.actor = options.actor;
  }

  private tx<T>(fn: (sql: Sql) => Promise<T>): Promise<T> {
    return this.db.tx(this.workspaceId, fn);
  }

  // ------------------------------------------------------------ writes

  async write(writes: StoreWrite[]): Promise<void> {
    if (!writes.length) return;
    const outcome = await this.ingest(
      writes.map((w) => ({ change: w.change, embedding: w.embedding ?? null })),
      null,
    );
    if (outcome.error) throw outcome.error;
  }

  /** Append changes (a device's push, or the relay's own writes), in order, in one transaction. */
  async ingest(items: IngestItem[], deviceId: string | null): Promise<IngestOutcome> {
    const outcome = await this.tx((sql) => this.ingestIn(sql, items, deviceId, true));
    if (outcome.results.some((r) => r.status === "stored")) this.onCommit?.(outcome.head);
    return outcome;
  }

  private async ingestIn(
    sql: Sql,
    items: IngestItem[],
    deviceId: string | null,
    mergeDuplicates: boolean,
  ): Promise<IngestOutcome> {
    const ws = this.workspaceId;
    const [wsRow] = await sql.query<{
      next_seq: string;
      embedding_model: string | null;
      embedding_dims: number | null;
      entity_index_version: number;
    }>(
      "SELECT next_seq::text AS next_seq, embedding_model, embedding_dims, entity_index_version FROM workspaces WHERE id = $1 FOR NO KEY UPDATE",
      [ws],
    );
    if (!wsRow) throw new TribalError("FORBIDDEN", "This workspace does not exist.");
    let model =
      wsRow.embedding_model && wsRow.embedding_dims
        ? { modelId: wsRow.embedding_model, dims: wsRow.embedding_dims }
        : null;
    const hashes = items.map((i) => i.change.hash);
    const docIds = [...new Set(items.map((i) => i.change.docId))];
    const known = new Map(
      (
        await sql.query<{ hash: string; seq: string }>(
          "SELECT hash, seq::text AS seq FROM changes WHERE workspace_id = $1 AND hash = ANY($2::text[])",
          [ws, hashes],
        )
      ).map((r) => [r.hash, Number(r.seq)]),
    );
    const purged = new Set(
      (
        await sql.query<{ doc_id: string }>(
          "SELECT doc_id FROM purged_docs WHERE workspace_id = $1 AND doc_id = ANY($2::text[])",
          [ws, docIds],
        )
      ).map((r) => r.doc_id),
    );
    const saved = new Map(
      (
        await sql.query<{ id: string; doc: Uint8Array; content_hash: string }>(
          "SELECT id, doc, content_hash FROM memories WHERE workspace_id = $1 AND id = ANY($2::text[])",
          [ws, docIds],
        )
      ).map((r) => [r.id, r]),
    );

    // Phase 1: check and apply each change in order to a working copy of its document.
    const working = new Map<string, AutomergeMemoryDoc>();
    // New memories read straight from their creating change, no Automerge document built.
    const created = new Map<string, Memory>();
    const acceptedByDoc = new Map<string, ChangeRecord[]>();
    const accepted: { item: IngestItem; index: number }[] = [];
    const results: PushResult[] = [];
    const inBatch = new Set<string>();
    let error: TribalError | null = null;
    for (let i = 0; i < items.length; i++) {
      const { change } = items[i];
      const seenSeq = known.get(change.hash);
      if (seenSeq !== undefined || inBatch.has(change.hash)) {
        results.push({ hash: change.hash, seq: seenSeq ?? null, status: "duplicate" });
        continue;
      }
      if (purged.has(change.docId)) {
        results.push({ hash: change.hash, seq: null, status: "purged" });
        continue;
      }
      if (
        !working.has(change.docId) &&
        !created.has(change.docId) &&
        !saved.has(change.docId) &&
        change.deps.length === 0
      ) {
        const m = materializeRootChange(change.bytes);
        if (m && m.id === change.docId) {
          created.set(change.docId, m);
          inBatch.add(change.hash);
          acceptedByDoc.set(change.docId, [change]);
          accepted.push({ item: items[i], index: results.length });
          results.push({ hash: change.hash, seq: null, status: "stored" });
          continue;
        }
      }
      const fastBase = created.get(change.docId)
        ? loadMemoryDoc((acceptedByDoc.get(change.docId) as ChangeRecord[])[0].bytes, this.actor)
        : null;
      if (fastBase) created.delete(change.docId);
      const base =
        fastBase ?? working.get(change.docId) ?? this.loadSaved(saved.get(change.docId)?.doc ?? null);
      try {
        const applied = applyMemoryChanges(base, [change.bytes], this.actor);
        if (applied.missingDeps.length) {
          throw new TribalError(
            "SYNC_MISSING_DEPS",
            `Change ${change.hash} of memory ${change.docId} depends on ${applied.missingDeps.length} change(s) the relay does not hold; push those first.`,
            { hash: change.hash, doc_id: change.docId, missing: applied.missingDeps },
          );
        }
        const m = materializeMemory(applied.doc);
        if (m.id !== change.docId) {
          throw new TribalError(
            "SYNC_INVALID_CHANGE",
            `Change ${change.hash} claims memory ${change.docId} but builds ${m.id || "no memory"}.`,
            {
              hash: change.hash,
              doc_id: change.docId,
            },
          );
        }
        working.set(change.docId, applied.doc);
      } catch (err) {
        error =
          err instanceof TribalError
            ? err
            : new TribalError(
                "SYNC_INVALID_CHANGE",
                `Change ${change.hash} cannot be applied: ${(err as Error).message}`,
                {
                  hash: change.hash,
                  doc_id: change.docId,
                },
              );
        // The working copy may hold the refused change queued: rebuild it from what was accepted.
        const ok = acceptedByDoc.get(change.docId);
        working.delete(change.docId);
        if (ok?.length) {
          const base2 = this.loadSaved(saved.get(change.docId)?.doc ?? null);
          working.set(
            change.docId,
            applyMemoryChanges(
              base2,
              ok.map((c) => c.bytes),
              this.actor,
            ).doc,
          );
        }
        break;
      }
      inBatch.add(change.hash);
      const list = acceptedByDoc.get(change.docId) ?? [];
      list.push(change);
      acceptedByDoc.set(change.docId, list);
      accepted.push({ item: items[i], index: results.length });
      results.push({ hash: change.hash, seq: null, status: "stored" });
    }

    if (!accepted.length) {
      const head = await this.headIn(sql);
      return { results, error, head, touched: [] };
    }

    // Phase 2: seqs under the workspace row lock, so seq order is commit order.
    const [{ first }] = await sql.query<{ first: string }>(
      "UPDATE workspaces SET next_seq = next_seq + $2 WHERE id = $1 RETURNING (next_seq - $2)::text AS first",
      [ws, accepted.length],
    );
    const firstSeq = Number(first);
    accepted.forEach((a, j) => {
      results[a.index].seq = firstSeq + j;
    });
    await sql.query(
      `INSERT INTO changes (workspace_id, seq, doc_id, hash, deps, bytes, device_id)
       SELECT $1, s, d, h, CASE WHEN dp = '' THEN '{}'::text[] ELSE string_to_array(dp, ',') END, decode(b, 'base64'), $7
       FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[]) AS t(s, d, h, dp, b)`,
      [
        ws,
        accepted.map((_, j) => firstSeq + j),
        accepted.map((a) => a.item.change.docId),
        accepted.map((a) => a.item.change.hash),
        accepted.map((a) => a.item.change.deps.join(",")),
        accepted.map((a) => encodeBytes(a.item.change.bytes)),
        deviceId,
      ],
    );

    // Phase 3: materialise each touched document once.
    const embeddingFor = new Map<string, StoredEmbedding>();
    for (const a of accepted) if (a.item.embedding) embeddingFor.set(a.item.change.docId, a.item.embedding);
    if (!model) {
      // A workspace adopts the model of the first vectors it receives.
      const first = [...embeddingFor.values()][0];
      if (first) {
        model = { modelId: first.modelId, dims: first.vector.length };
        await sql.query("UPDATE workspaces SET embedding_model = $2, embedding_dims = $3 WHERE id = $1", [
          ws,
          model.modelId,
          model.dims,
        ]);
        this.model = model;
      }
    }
    const rows: { memory: Memory; doc: Uint8Array; embedding: StoredEmbedding | null }[] = [];
    for (const docId of acceptedByDoc.keys()) {
      const doc = working.get(docId);
      const memory = created.get(docId) ?? materializeMemory(doc as AutomergeMemoryDoc);
      let embedding = embeddingFor.get(docId) ?? null;
      if (
        embedding &&
        (!model ||
          embedding.modelId !== model.modelId ||
          embedding.contentHash !== contentHash(memory.content))
      ) {
        embedding = null;
      }
      if (embedding && model && embedding.vector.length !== model.dims) {
        throw new TribalError(
          "INTERNAL",
          `Embedding has ${embedding.vector.length} dims; the workspace holds ${model.dims}.`,
        );
      }
      // A memory made by one change needs no save: a change chunk loads as a document as it is.
      const only = acceptedByDoc.get(docId) as ChangeRecord[];
      const docBytes =
        !saved.has(docId) && only.length === 1 ? only[0].bytes : saveMemoryDoc(doc as AutomergeMemoryDoc);
      rows.push({ memory, doc: docBytes, embedding });
    }
    await this.upsertRows(sql, rows);
    if (wsRow.entity_index_version === ENTITY_INDEX_VERSION) {
      await this.indexEntitiesIn(
        sql,
        rows.map((r) => ({
          id: r.memory.id,
          content: hidden(r.memory) ? null : r.memory.content,
          createdMs: Date.parse(r.memory.created_at) || 0,
        })),
      );
    } else {
      // The rows just written are in the table: one rebuild covers them too.
      await this.reindexEntitiesIn(sql);
      wsRow.entity_index_version = ENTITY_INDEX_VERSION;
    }
    const touched = new Set(rows.map((r) => r.memory.id));

    if (mergeDuplicates) {
      const merges = await this.duplicateMergeChanges(
        sql,
        rows.map((r) => r.memory),
      );
      if (merges.length) {
        const inner = await this.ingestIn(sql, merges, null, false);
        if (inner.error) throw inner.error;
        for (const id of inner.touched) touched.add(id);
      }
    }
    const head = await this.headIn(sql);
    await sql.query("SELECT pg_notify($1, $2)", [EVENTS_CHANNEL, `c:${ws}:${head}`]);
    return { results, error, head, touched: [...touched] };
  }

  private loadSaved(bytes: Uint8Array | null): AutomergeMemoryDoc | null {
    return bytes ? loadMemoryDoc(bytes, this.actor) : null;
  }

  private async headIn(sql: Sql): Promise<number> {
    const [r] = await sql.query<{ h: string }>(
      "SELECT (next_seq - 1)::text AS h FROM workspaces WHERE id = $1",
      [this.workspaceId],
    );
    return Number(r?.h ?? 0);
  }

  private async upsertRows(
    sql: Sql,
    rows: { memory: Memory; doc: Uint8Array; embedding: StoredEmbedding | null }[],
  ): Promise<void> {
    const col = <T>(f: (r: (typeof rows)[number]) => T) => rows.map(f);
    await sql.query(
      `INSERT INTO memories AS m (workspace_id, id, content, content_hash, dedup_key, source_type, source_instance, tags, tags_text,
         context, confidence, supersedes, duplicate_of, created_at, updated_at, created_ms, deleted, doc,
         embedding, embedding_model, embedding_hash, embedding_dims)
       SELECT $1, id, content, ch, dk, st, si,
         CASE WHEN tg = '' THEN '{}'::text[] ELSE string_to_array(tg, E'\\x1f') END, replace(tg, E'\\x1f', ' '),
         ctx, conf, sup, dup, ca, ua, cms, del, decode(doc, 'base64'), emb::vector, em, eh, ed
       FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
         $10::float8[], $11::text[], $12::text[], $13::text[], $14::text[], $15::bigint[], $16::bool[], $17::text[],
         $18::text[], $19::text[], $20::text[], $21::int[])
         AS t(id, content, ch, dk, st, si, tg, ctx, conf, sup, dup, ca, ua, cms, del, doc, emb, em, eh, ed)
       ON CONFLICT (workspace_id, id) DO UPDATE SET
         content = EXCLUDED.content, dedup_key = EXCLUDED.dedup_key, source_type = EXCLUDED.source_type,
         source_instance = EXCLUDED.source_instance, tags = EXCLUDED.tags, tags_text = EXCLUDED.tags_text,
         context = EXCLUDED.context, confidence = EXCLUDED.confidence, supersedes = EXCLUDED.supersedes,
         duplicate_of = EXCLUDED.duplicate_of, created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at,
         created_ms = EXCLUDED.created_ms, deleted = EXCLUDED.deleted, doc = EXCLUDED.doc,
         -- A new vector wins; an unchanged content keeps its vector; a hidden memory or new content drops it.
         embedding = CASE WHEN EXCLUDED.deleted OR EXCLUDED.duplicate_of IS NOT NULL THEN NULL
           WHEN EXCLUDED.embedding IS NOT NULL THEN EXCLUDED.embedding
           WHEN m.content_hash = EXCLUDED.content_hash THEN m.embedding ELSE NULL END,
         embedding_model = CASE WHEN EXCLUDED.deleted OR EXCLUDED.duplicate_of IS NOT NULL THEN NULL
           WHEN EXCLUDED.embedding IS NOT NULL THEN EXCLUDED.embedding_model
           WHEN m.content_hash = EXCLUDED.content_hash THEN m.embedding_model ELSE NULL END,
         embedding_hash = CASE WHEN EXCLUDED.deleted OR EXCLUDED.duplicate_of IS NOT NULL THEN NULL
           WHEN EXCLUDED.embedding IS NOT NULL THEN EXCLUDED.embedding_hash
           WHEN m.content_hash = EXCLUDED.content_hash THEN m.embedding_hash ELSE NULL END,
         embedding_dims = CASE WHEN EXCLUDED.deleted OR EXCLUDED.duplicate_of IS NOT NULL THEN NULL
           WHEN EXCLUDED.embedding IS NOT NULL THEN EXCLUDED.embedding_dims
           WHEN m.content_hash = EXCLUDED.content_hash THEN m.embedding_dims ELSE NULL END,
         content_hash = EXCLUDED.content_hash`,
      [
        this.workspaceId,
        col((r) => r.memory.id),
        col((r) => r.memory.content),
        col((r) => contentHash(r.memory.content)),
        col((r) => dedupKey(r.memory.content)),
        col((r) => r.memory.source_type),
        col((r) => r.memory.source_instance),
        col((r) => r.memory.tags.join("\u001f")),
        col((r) => (r.memory.context === null ? null : JSON.stringify(r.memory.context))),
        col((r) => r.memory.confidence),
        col((r) => r.memory.supersedes),
        col((r) => r.memory.duplicate_of),
        col((r) => r.memory.created_at),
        col((r) => r.memory.updated_at),
        col((r) => Date.parse(r.memory.created_at) || 0),
        col((r) => r.memory.deleted),
        col((r) => encodeBytes(r.doc)),
        col((r) => (r.embedding && !hidden(r.memory) ? vectorText(r.embedding.vector) : null)),
        col((r) => (r.embedding && !hidden(r.memory) ? r.embedding.modelId : null)),
        col((r) => (r.embedding && !hidden(r.memory) ? r.embedding.contentHash : null)),
        col((r) => (r.embedding && !hidden(r.memory) ? r.embedding.vector.length : null)),
      ],
    );
  }

  /** Changes (by this relay's actor) that merge cross-machine duplicates among `memories`. */
  private async duplicateMergeChanges(sql: Sql, memories: Memory[]): Promise<IngestItem[]> {
    const keys = [
      ...new Set(memories.filter((m) => !hidden(m) && m.supersedes === null).map((m) => dedupKey(m.content))),
    ];
    if (!keys.length) return [];
    const rows = await sql.query<MemoryRow & { dedup_key: string; doc: Uint8Array }>(
      `SELECT ${COLUMNS}, m.dedup_key, m.doc FROM memories m WHERE m.workspace_id = $1 AND m.dedup_key = ANY($2::text[])
       AND NOT m.deleted AND m.duplicate_of IS NULL AND m.supersedes IS NULL`,
      [this.workspaceId, keys],
    );
    const groups = new Map<string, (MemoryRow & { doc: Uint8Array })[]>();
    for (const r of rows) groups.set(r.dedup_key, [...(groups.get(r.dedup_key) ?? []), r]);
    const out: IngestItem[] = [];
    const now = new Date().toISOString();
    for (const group of groups.values()) {
      const plan = planDuplicateMerge(group.map(toMemory));
      if (!plan) continue;
      const docOf = new Map(group.map((r) => [r.id, r.doc]));
      for (const loser of plan.merge) {
        const edit = editMemoryDoc(loadMemoryDoc(docOf.get(loser.id) as Uint8Array, this.actor), {
          duplicate_of: plan.keep.id,
          updated_at: now,
        });
        if (edit) out.push({ change: edit.change });
      }
      if (plan.addTags.length) {
        const edit = editMemoryDoc(loadMemoryDoc(docOf.get(plan.keep.id) as Uint8Array, this.actor), {
          addTags: plan.addTags,
          updated_at: now,
        });
        if (edit) out.push({ change: edit.change });
      }
    }
    return out;
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
      await this.pruneEntitiesIn(sql, [
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
      await sql.query("SELECT pg_notify($1, $2)", [EVENTS_CHANNEL, `c:${this.workspaceId}:${s}`]);
      return Number(s);
    });
    if (head === null) return false;
    this.onCommit?.(head);
    await this.db.scrubDeleted(PURGE_SCRUB_TABLES);
    return true;
  }

  // ------------------------------------------------------------ entity index (writes)

  /** Entities and event dates of memories, replaced in the caller's transaction. */
  private async indexEntitiesIn(sql: Sql, sources: EntitySource[]): Promise<void> {
    if (!sources.length) return;
    const ws = this.workspaceId;
    const ids = sources.map((s) => s.id);
    await sql.query("DELETE FROM memory_entities WHERE workspace_id = $1 AND memory_id = ANY($2::text[])", [
      ws,
      ids,
    ]);
    await sql.query(
      "DELETE FROM memory_event_dates WHERE workspace_id = $1 AND memory_id = ANY($2::text[])",
      [ws, ids],
    );
    const entities = new Map<string, string>();
    const aliases = new Map<string, [string, string]>();
    const links = new Map<string, [string, string]>();
    const dates: [string, number, number][] = [];
    for (const src of sources) {
      if (src.content === null) continue;
      for (const e of extractEntities(src.content)) {
        if (!entities.has(e.name)) entities.set(e.name, e.type);
        links.set(`${src.id}\u0000${e.name}`, [src.id, e.name]);
        for (const a of e.aliases) aliases.set(`${a}\u0000${e.name}`, [a, e.name]);
      }
      for (const d of extractEventDates(src.content, new Date(src.createdMs))) {
        dates.push([src.id, Math.floor(d.start), Math.ceil(d.end)]);
      }
    }
    if (entities.size) {
      await sql.query(
        `INSERT INTO entities (workspace_id, name, kind) SELECT $1, n, k FROM unnest($2::text[], $3::text[]) AS t(n, k)
         ON CONFLICT DO NOTHING`,
        [ws, [...entities.keys()], [...entities.values()]],
      );
      await sql.query(
        `INSERT INTO memory_entities (workspace_id, memory_id, entity) SELECT $1, m, e FROM unnest($2::text[], $3::text[]) AS t(m, e)
         ON CONFLICT DO NOTHING`,
        [ws, [...links.values()].map((l) => l[0]), [...links.values()].map((l) => l[1])],
      );
    }
    if (aliases.size) {
      await sql.query(
        `INSERT INTO entity_aliases (workspace_id, alias, entity) SELECT $1, a, e FROM unnest($2::text[], $3::text[]) AS t(a, e)
         ON CONFLICT DO NOTHING`,
        [ws, [...aliases.values()].map((a) => a[0]), [...aliases.values()].map((a) => a[1])],
      );
    }
    if (dates.length) {
      await sql.query(
        `INSERT INTO memory_event_dates (workspace_id, memory_id, start_ms, end_ms)
         SELECT $1, m, s, e FROM unnest($2::text[], $3::bigint[], $4::bigint[]) AS t(m, s, e)`,
        [ws, dates.map((d) => d[0]), dates.map((d) => d[1]), dates.map((d) => d[2])],
      );
    }
  }

  /** Rebuilds the workspace's entity index from its live memories (the workspace row is locked). */
  private async reindexEntitiesIn(sql: Sql): Promise<void> {
    const ws = this.workspaceId;
    for (const t of ["memory_entities", "entity_aliases", "entities", "memory_event_dates"]) {
      await sql.query(`DELETE FROM ${t} WHERE workspace_id = $1`, [ws]);
    }
    let after = "";
    for (;;) {
      const rows = await sql.query<{ id: string; content: string; cms: number }>(
        `SELECT id, content, created_ms::float8 AS cms FROM memories
         WHERE workspace_id = $1 AND NOT deleted AND duplicate_of IS NULL AND id > $2 ORDER BY id LIMIT 1000`,
        [ws, after],
      );
      if (!rows.length) break;
      await this.indexEntitiesIn(
        sql,
        rows.map((r) => ({ id: r.id, content: r.content, createdMs: r.cms })),
      );
      after = rows[rows.length - 1].id;
    }
    await sql.query("UPDATE workspaces SET entity_index_version = $2 WHERE id = $1", [
      ws,
      ENTITY_INDEX_VERSION,
    ]);
  }

  /**
   * After a purge: entities no memory names any more go, with their aliases; the aliases of the
   * others are rebuilt from the memories still naming them, so nothing of the purged text stays.
   */
  private async pruneEntitiesIn(sql: Sql, names: string[]): Promise<void> {
    const ws = this.workspaceId;
    const affected = [...new Set(names)];
    if (!affected.length) return;
    await sql.query("DELETE FROM entity_aliases WHERE workspace_id = $1 AND entity = ANY($2::text[])", [
      ws,
      affected,
    ]);
    await sql.query(
      `DELETE FROM entities e WHERE e.workspace_id = $1 AND e.name = ANY($2::text[])
       AND NOT EXISTS (SELECT 1 FROM memory_entities me WHERE me.workspace_id = e.workspace_id AND me.entity = e.name)`,
      [ws, affected],
    );
    const rows = await sql.query<{ content: string }>(
      `SELECT m.content FROM memories m WHERE m.workspace_id = $1 AND m.id IN (
         SELECT memory_id FROM memory_entities WHERE workspace_id = $1 AND entity = ANY($2::text[]))`,
      [ws, affected],
    );
    const keep = new Set(affected);
    const aliases = new Map<string, [string, string]>();
    for (const r of rows) {
      for (const e of extractEntities(r.content)) {
        if (!keep.has(e.name)) continue;
        for (const a of e.aliases) aliases.set(`${a}\u0000${e.name}`, [a, e.name]);
      }
    }
    if (aliases.size) {
      await sql.query(
        `INSERT INTO entity_aliases (workspace_id, alias, entity) SELECT $1, a, e FROM unnest($2::text[], $3::text[]) AS t(a, e)
         ON CONFLICT DO NOTHING`,
        [ws, [...aliases.values()].map((a) => a[0]), [...aliases.values()].map((a) => a[1])],
      );
    }
  }

  /** Builds the workspace's entity index if an older extractor (or none) wrote it. */
  private async ensureEntityIndex(): Promise<void> {
    if (this.entityIndexReady) return;
    await this.tx(async (sql) => {
      const [r] = await sql.query<{ v: number }>(
        "SELECT entity_index_version AS v FROM workspaces WHERE id = $1",
        [this.workspaceId],
      );
      if (!r || r.v === ENTITY_INDEX_VERSION) return;
      const [locked] = await sql.query<{ v: number }>(
        "SELECT entity_index_version AS v FROM workspaces WHERE id = $1 FOR UPDATE",
        [this.workspaceId],
      );
      if (locked.v !== ENTITY_INDEX_VERSION) await this.reindexEntitiesIn(sql);
    });
    this.entityIndexReady = true;
  }

  // ------------------------------------------------------------ entity index (reads)

  /** Entities for case-folded names or aliases, name matches first; `alias` = matched via an alias. */
  private async entityIdsIn(
    sql: Sql,
    names: string[],
  ): Promise<{ name: string; type: string; query: string; alias: boolean }[]> {
    if (!names.length) return [];
    return sql.query(
      `SELECT name, type, query, alias FROM (
         SELECT e.name, e.kind AS type, q.q AS query, false AS alias, q.i FROM unnest($2::text[]) WITH ORDINALITY AS q(q, i)
           JOIN entities e ON e.workspace_id = $1 AND e.name = q.q
         UNION ALL
         SELECT e.name, e.kind AS type, q.q AS query, true AS alias, q.i FROM unnest($2::text[]) WITH ORDINALITY AS q(q, i)
           JOIN entity_aliases a ON a.workspace_id = $1 AND a.alias = q.q
           JOIN entities e ON e.workspace_id = a.workspace_id AND e.name = a.entity
       ) x ORDER BY alias, i, name COLLATE "C"`,
      [this.workspaceId, names],
    );
  }

  async entitySearch(names: string[], k: number, filters: MemoryFilters): Promise<EntityHit[]> {
    if (!names.length || k <= 0) return [];
    await this.ensureEntityIndex();
    return this.tx(async (sql) => {
      const ids = await this.entityIdsIn(sql, names);
      if (!ids.length) return [];
      const ws = this.workspaceId;
      const [{ n }] = await sql.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM memories WHERE workspace_id = $1",
        [ws],
      );
      const total = Math.max(2, n);
      const dfOf = new Map(
        (
          await sql.query<{ entity: string; n: number }>(
            `SELECT entity, count(*)::int AS n FROM memory_entities WHERE workspace_id = $1 AND entity = ANY($2::text[])
             GROUP BY entity`,
            [ws, [...new Set(ids.map((e) => e.name))]],
          )
        ).map((r) => [r.entity, r.n]),
      );
      // Per query name, its best entity's weight: idf, halved for an alias ("Priya" → "priya shah").
      const weightOf = new Map<string, { w: number; query: string }>();
      const queryWeight = new Map<string, number>();
      for (const e of ids) {
        const df = dfOf.get(e.name) ?? 0;
        if (df === 0) continue;
        const w = Math.log(1 + total / df) * (e.alias ? 0.5 : 1);
        const prev = weightOf.get(e.name);
        if (!prev || prev.w < w) weightOf.set(e.name, { w, query: e.query });
        queryWeight.set(e.query, Math.max(queryWeight.get(e.query) ?? 0, w));
      }
      const maxTotal = [...queryWeight.values()].reduce((a, b) => a + b, 0);
      if (maxTotal <= 0) return [];
      const p = new Params();
      const where = this.filterSql(filters, p);
      const rows = await sql.query<{ id: string; ents: string[]; cms: number }>(
        `SELECT m.id, array_agg(me.entity) AS ents, m.created_ms::float8 AS cms
         FROM memory_entities me JOIN memories m ON m.workspace_id = me.workspace_id AND m.id = me.memory_id
         WHERE ${where} AND me.workspace_id = m.workspace_id AND me.entity = ANY(${p.add([...weightOf.keys()])}::text[])
         GROUP BY m.id, m.created_ms`,
        p.values,
      );
      return rows
        .map((r) => {
          const perQuery = new Map<string, number>();
          for (const name of r.ents) {
            const hit = weightOf.get(name);
            if (hit) perQuery.set(hit.query, Math.max(perQuery.get(hit.query) ?? 0, hit.w));
          }
          let sum = 0;
          for (const w of perQuery.values()) sum += w;
          return { id: r.id, cms: r.cms, score: sum / maxTotal, matched: [...perQuery.keys()] };
        })
        .sort((a, b) => b.score - a.score || b.cms - a.cms || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
        .slice(0, k)
        .map((r) => ({ id: r.id, score: r.score, matched: r.matched }));
    });
  }

  async listEntities(options: { limit: number; prefix?: string; type?: string }): Promise<EntitySummary[]> {
    await this.ensureEntityIndex();
    return this.tx((sql) =>
      sql.query<EntitySummary>(
        `SELECT e.name, e.kind AS type, count(*)::int AS memories FROM entities e
           JOIN memory_entities me ON me.workspace_id = e.workspace_id AND me.entity = e.name
           JOIN memories m ON m.workspace_id = me.workspace_id AND m.id = me.memory_id AND NOT m.deleted AND m.duplicate_of IS NULL
         WHERE e.workspace_id = $1 AND ($2::text IS NULL OR starts_with(e.name, $2::text)) AND ($3::text IS NULL OR e.kind = $3::text)
         GROUP BY e.name, e.kind ORDER BY memories DESC, e.name COLLATE "C" LIMIT $4`,
        [this.workspaceId, options.prefix ?? null, options.type ?? null, options.limit],
      ),
    );
  }

  async resolveEntities(names: string[]): Promise<{ name: string; type: string }[]> {
    if (!names.length) return [];
    await this.ensureEntityIndex();
    const ids = await this.tx((sql) => this.entityIdsIn(sql, names));
    const seen = new Map<string, { name: string; type: string }>();
    for (const e of ids) if (!seen.has(e.name)) seen.set(e.name, { name: e.name, type: e.type });
    return [...seen.values()];
  }

  async entityNeighbours(names: string[], perEntity: number): Promise<EntityEdge[]> {
    if (!names.length || perEntity <= 0) return [];
    await this.ensureEntityIndex();
    return this.tx(async (sql) => {
      const edges: EntityEdge[] = [];
      const sources = [...new Set((await this.entityIdsIn(sql, names)).map((e) => e.name))];
      for (const source of sources) {
        const rows = await sql.query<{ target: string; weight: number }>(
          `SELECT b.entity AS target, count(*)::int AS weight FROM memory_entities a
             JOIN memories m ON m.workspace_id = a.workspace_id AND m.id = a.memory_id AND NOT m.deleted AND m.duplicate_of IS NULL
             JOIN memory_entities b ON b.workspace_id = a.workspace_id AND b.memory_id = a.memory_id AND b.entity <> a.entity
           WHERE a.workspace_id = $1 AND a.entity = $2
           GROUP BY b.entity ORDER BY weight DESC, b.entity COLLATE "C" LIMIT $3`,
          [this.workspaceId, source, perEntity],
        );
        for (const r of rows) edges.push({ source, target: r.target, type: "co_occurs", weight: r.weight });
      }
      return edges;
    });
  }

  /** Live memories, and how many match each term (the tsvector), for IDF weights. */
  async termFrequencies(terms: string[]): Promise<{ docs: number; df: number[] }> {
    return this.tx(async (sql) => {
      const live = "workspace_id = $1 AND NOT deleted AND duplicate_of IS NULL";
      const [{ docs }] = await sql.query<{ docs: number }>(
        `SELECT count(*)::int AS docs FROM memories WHERE ${live}`,
        [this.workspaceId],
      );
      const df = terms.map((t) => {
        const c = this.dfCache.get(t);
        return c && Math.abs(c.docs - docs) <= docs / 10 ? c.df : -1;
      });
      const unknown = [...new Set(terms.filter((_, i) => df[i] < 0))];
      if (unknown.length) {
        const rows = await sql.query<{ t: string; n: number }>(
          `SELECT u.t, (SELECT count(*)::int FROM memories WHERE ${live} AND tsv @@ plainto_tsquery('english', u.t)) AS n
           FROM unnest($2::text[]) AS u(t)`,
          [this.workspaceId, unknown],
        );
        if (this.dfCache.size > 10_000) this.dfCache.clear();
        for (const r of rows) this.dfCache.set(r.t, { df: r.n, docs });
        const got = new Map(rows.map((r) => [r.t, r.n]));
        terms.forEach((t, i) => {
          if (df[i] < 0) df[i] = got.get(t) ?? 0;
        });
      }
      return { docs, df };
    });
  }

  /**
   * Log entries with seq > cursor, and the current vectors of the memories they touch: at most
   * `limit` entries and `maxBytes` of JSON (the page budget, far below the clients' frame
   * limit). Always at least one entry; the change cap keeps any one entry under the budget.
   */
  async readLog(
    cursor: number,
    limit: number,
    options: { skipDevice?: string | null; withEmbeddings?: boolean; maxBytes?: number } = {},
  ): Promise<{
    entries: WireEntry[];
    embeddings: WireEmbedding[];
    from: number;
    cursor: number;
    more: boolean;
  }> {
    const maxBytes = options.maxBytes ?? syncPageBudget();
    const withEmbeddings = options.withEmbeddings !== false;
    return this.tx(async (sql) => {
      const rows = await sql.query<{
        seq: number;
        kind: string;
        doc_id: string;
        hash: string;
        deps: string[];
        bytes: Uint8Array | null;
        device_id: string | null;
      }>(
        // The running byte total stops the scan near the budget, so a page of large changes
        // is not read whole only to be cut; the exact cut (vectors included) is below. Rows are
        // kept while the bytes before the previous row are under budget: one row past the cut
        // comes back, so `more` is known without counting the rest of the log.
        `SELECT seq, kind, doc_id, hash, deps, bytes, device_id FROM (
           SELECT seq::float8 AS seq, kind, doc_id, hash, deps, bytes, device_id,
             coalesce(sum(coalesce(octet_length(bytes), 0) + 200) OVER (ORDER BY seq
               ROWS BETWEEN UNBOUNDED PRECEDING AND 2 PRECEDING), 0) AS before_previous
           FROM changes WHERE workspace_id = $1 AND seq > $2 ORDER BY seq LIMIT $3
         ) t WHERE before_previous < $4 ORDER BY seq`,
        [this.workspaceId, cursor, limit + 1, maxBytes],
      );
      const [ws] = withEmbeddings
        ? await sql.query<{ dims: number | null }>(
            "SELECT embedding_dims AS dims FROM workspaces WHERE id = $1",
            [this.workspaceId],
          )
        : [];
      const dims = ws?.dims ?? 0;
      const entries: WireEntry[] = [];
      const withVector = new Set<string>();
      let page = 0;
      let bytes = 0;
      for (const r of rows.slice(0, limit)) {
        // A device's own changes need not come back to it; the cursor still moves past them.
        const skip = Boolean(options.skipDevice && r.device_id === options.skipDevice);
        const vector = !skip && r.kind !== "purge" && dims && !withVector.has(r.doc_id) ? dims * 4 : 0;
        const cost = skip ? 0 : wireEntryBytes(r.bytes?.byteLength ?? 0, r.deps?.length ?? 0, vector);
        if (page > 0 && bytes + cost > maxBytes) break;
        page++;
        bytes += cost;
        if (skip) continue;
        if (vector) withVector.add(r.doc_id);
        entries.push(
          r.kind === "purge"
            ? { seq: r.seq, kind: "purge", doc_id: r.doc_id }
            : {
                seq: r.seq,
                kind: "change",
                doc_id: r.doc_id,
                hash: r.hash,
                deps: r.deps,
                bytes: encodeBytes(r.bytes as Uint8Array),
              },
        );
      }
      const more = rows.length > page;
      const last = page ? rows[page - 1].seq : cursor;
      let embeddings: WireEmbedding[] = [];
      const docIds = [...new Set(entries.filter((e) => e.kind === "change").map((e) => e.doc_id))];
      if (withEmbeddings && docIds.length) {
        const vecs = await sql.query<{
          id: string;
          embedding_model: string;
          embedding_hash: string;
          embedding: string;
        }>(
          `SELECT id, embedding_model, embedding_hash, embedding::text AS embedding FROM memories
           WHERE workspace_id = $1 AND id = ANY($2::text[]) AND embedding IS NOT NULL AND embedding_hash = content_hash`,
          [this.workspaceId, docIds],
        );
        embeddings = vecs.map((v) => ({
          doc_id: v.id,
          model_id: v.embedding_model,
          content_hash: v.embedding_hash,
          vector: encodeVector(parseVector(v.embedding)),
        }));
      }
      return { entries, embeddings, from: cursor, cursor: last, more };
    });
  }

  async head(): Promise<number> {
    return this.tx((sql) => this.headIn(sql));
  }

  // ------------------------------------------------------------ reads

  async get(id: string): Promise<Memory | null> {
    const [row] = await this.tx((sql) =>
      sql.query<MemoryRow>(`SELECT ${COLUMNS} FROM memories m WHERE m.workspace_id = $1 AND m.id = $2`, [
        this.workspaceId,
        id,
      ]),
    );
    return row ? toMemory(row) : null;
  }

  async getMany(ids: string[]): Promise<Memory[]> {
    if (!ids.length) return [];
    const rows = await this.tx((sql) =>
      sql.query<MemoryRow>(
        `SELECT ${COLUMNS} FROM memories m WHERE m.workspace_id = $1 AND m.id = ANY($2::text[])`,
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
        `SELECT ${COLUMNS} FROM memories m WHERE m.workspace_id = $1 AND m.dedup_key = $2 AND NOT m.deleted AND m.duplicate_of IS NULL
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

  async list(options: { filters: MemoryFilters; limit: number; cursor: string | null }): Promise<ListPage> {
    await this.ensureEntityFilters(options.filters);
    const p = new Params();
    const where = this.filterSql(options.filters, p);
    let cursorSql = "";
    if (options.cursor) {
      const [ms, id] = decodeCursor(options.cursor);
      cursorSql = ` AND (m.created_ms, m.id) < (${p.add(ms)}::bigint, ${p.add(id)}::text)`;
    }
    const lim = p.add(options.limit + 1);
    const rows = await this.tx((sql) =>
      sql.query<MemoryRow & { cms: number }>(
        `SELECT ${COLUMNS}, m.created_ms::float8 AS cms FROM memories m WHERE ${where}${cursorSql}
         ORDER BY m.created_ms DESC, m.id DESC LIMIT ${lim}`,
        p.values,
      ),
    );
    return pageOf(rows, options.limit, toMemory, (r) => encodeCursor(r.cms, r.id));
  }

  async vectorSearch(vector: Float32Array, k: number, filters: MemoryFilters): Promise<SearchHit[]> {
    await this.ensureEntityFilters(filters);
    const model = await this.embeddingModel();
    if (!model || vector.length !== model.dims) return [];
    const d = model.dims;
    const p = new Params();
    const where = this.filterSql(filters, p);
    const v = p.add(vectorText(vector));
    const mid = p.add(model.modelId);
    // The cast to vector(d) and `embedding_dims = d` match the partial HNSW index of that width;
    // hnsw.iterative_scan (set per connection) keeps filtered scans from returning too few rows.
    const rows = await this.tx((sql) =>
      sql.query<{ id: string; dist: number }>(
        `SELECT m.id, (m.embedding::vector(${d}) <=> ${v}::vector(${d}))::float8 AS dist FROM memories m
         WHERE ${where} AND m.embedding_dims = ${d} AND m.embedding_model = ${mid} AND m.embedding_hash = m.content_hash
         ORDER BY m.embedding::vector(${d}) <=> ${v}::vector(${d}) LIMIT ${p.add(k)}`,
        p.values,
      ),
    );
    return rows.map((r) => ({ id: r.id, score: 1 - r.dist }));
  }

  async keywordSearch(terms: string[], k: number, filters: MemoryFilters): Promise<SearchHit[]> {
    await this.ensureEntityFilters(filters);
    if (!terms.length) return [];
    const p = new Params();
    const where = this.filterSql(filters, p);
    // OR of the terms, never one phrase: each term is its own plainto_tsquery.
    const query = terms.map((t) => `plainto_tsquery('english', ${p.add(t)})`).join(" || ");
    const rows = await this.tx((sql) =>
      sql.query<{ id: string; score: number }>(
        `SELECT m.id, ts_rank(m.tsv, q)::float8 AS score FROM memories m, (SELECT ${query} AS q) qq
         WHERE ${where} AND m.tsv @@ q ORDER BY score DESC, m.id LIMIT ${p.add(k)}`,
        p.values,
      ),
    );
    return rows;
  }

  /** Filters that read the entity index need it built first. */
  private async ensureEntityFilters(f: MemoryFilters): Promise<void> {
    if (f.entityNames?.length || f.matchEventDates) await this.ensureEntityIndex();
  }

  private filterSql(f: MemoryFilters, p: Params): string {
    const parts = [`m.workspace_id = ${p.add(this.workspaceId)}`];
    if (!f.includeDeleted) parts.push("NOT m.deleted AND m.duplicate_of IS NULL");
    if (!f.includeSuperseded) {
      parts.push(
        "NOT EXISTS (SELECT 1 FROM memories s WHERE s.workspace_id = m.workspace_id AND s.supersedes = m.id AND NOT s.deleted)",
      );
    }
    if (f.tags?.length) parts.push(`m.tags && ${p.add(f.tags)}::text[]`);
    if (f.sourceInstance) parts.push(`m.source_instance = ${p.add(f.sourceInstance)}`);
    if (f.sourceType) parts.push(`m.source_type = ${p.add(f.sourceType)}`);
    if (f.entityNames?.length) {
      const names = p.add(f.entityNames);
      parts.push(
        `m.id IN (SELECT me.memory_id FROM memory_entities me WHERE me.workspace_id = m.workspace_id AND (
          me.entity = ANY(${names}::text[]) OR me.entity IN (
            SELECT a.entity FROM entity_aliases a WHERE a.workspace_id = m.workspace_id AND a.alias = ANY(${names}::text[]))))`,
      );
    }
    if (f.matchEventDates && (f.after !== undefined || f.before !== undefined)) {
      // Written in the range, or telling of a day in it ("on Friday we moved to Postgres").
      const after = p.add(f.after === undefined ? Number.MIN_SAFE_INTEGER : Math.floor(f.after));
      const before = p.add(f.before === undefined ? Number.MAX_SAFE_INTEGER : Math.ceil(f.before));
      parts.push(
        `(m.created_ms >= ${after}::bigint AND m.created_ms < ${before}::bigint OR m.id IN (
          SELECT d.memory_id FROM memory_event_dates d WHERE d.workspace_id = m.workspace_id
            AND d.start_ms < ${before}::bigint AND d.end_ms > ${after}::bigint))`,
      );
    } else {
      if (f.after !== undefined) parts.push(`m.created_ms >= ${p.add(Math.floor(f.after))}`);
      if (f.before !== undefined) parts.push(`m.created_ms < ${p.add(Math.ceil(f.before))}`);
    }
    return parts.join(" AND ");
  }

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

function hidden(m: Memory): boolean {
  return m.deleted || m.duplicate_of !== null;
}

function toMemory(r: MemoryRow): Memory {
  return {
    id: r.id,
    content: r.content,
    source_type: r.source_type,
    source_instance: r.source_instance,
    tags: [...r.tags].sort(),
    context: r.context === null ? null : (JSON.parse(r.context) as Memory["context"]),
    confidence: Number(r.confidence),
    supersedes: r.supersedes,
    duplicate_of: r.duplicate_of,
    created_at: r.created_at,
    updated_at: r.updated_at,
    deleted: r.deleted,
  };
}

export function vectorText(v: Float32Array): string {
  let s = "[";
  for (let i = 0; i < v.length; i++) s += (i ? "," : "") + (Number.isFinite(v[i]) ? v[i] : 0);
  return `${s}]`;
}

function parseVector(text: string): Float32Array {
  return Float32Array.from(text.slice(1, -1).split(",").map(Number));
}

function encodeCursor(ms: number, id: string): string {
  return Buffer.from(JSON.stringify([ms, id])).toString("base64url");
}

function decodeCursor(cursor: string): [number, string] {
  try {
    const v = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) as unknown;
    if (Array.isArray(v) && v.length === 2 && Number.isInteger(v[0]) && typeof v[1] === "string")
      return v as [number, string];
  } catch {
    // fall through
  }
  throw new TribalError("VALIDATION_FAILED", "cursor is not one this server issued; start without it.", {
    issues: [{ path: "cursor", message: "invalid" }],
  });
}
