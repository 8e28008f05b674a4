import { TribalError } from "@tribalmemory/shared/errors";
import { contentHash } from "@tribalmemory/shared/memory/content";
import {
  type AutomergeMemoryDoc,
  applyMemoryChanges,
  loadMemoryDoc,
  materializeMemory,
  saveMemoryDoc,
} from "@tribalmemory/shared/memory/document";
import type { ChangeRecord, Memory, StoredEmbedding } from "@tribalmemory/shared/memory/types";
import { ENTITY_INDEX_VERSION, isHidden } from "@tribalmemory/shared/store/memory-rows";
import { materializeRootChange } from "@tribalmemory/shared/sync/apply";
import { encodeBytes, type PushResult } from "@tribalmemory/shared/sync/protocol";
import { docHasChange } from "@tribalmemory/shared/sync/snapshot";
import type { Sql } from "./database.ts";
import { duplicateMergeChanges } from "./pg-duplicates.ts";
import type { PgEntityIndex } from "./pg-entities.ts";
import { logHead, notifyLogHead } from "./pg-log.ts";
import { type MaterialisedRow, upsertMemoryRows } from "./pg-memory-rows.ts";

export interface IngestItem {
  change: ChangeRecord;
  embedding?: StoredEmbedding | null;
}

export interface IngestOutcome {
  /**
   * One per item before the first refused one, in order. A quota refusal (QUOTA_EXCEEDED) is
   * the exception: the changes of the memories past the limit are left out and the rest answered.
   */
  results: PushResult[];
  /** Why the item at `results.length` was refused; later items were not looked at. */
  error: TribalError | null;
  /** Highest seq in the log after this ingest (0 when empty). */
  head: number;
  /** Memory ids whose row changed. */
  touched: string[];
}

/** What ingest needs of the store it writes for. */
export interface IngestContext {
  workspaceId: string;
  /** This relay process's Automerge actor (for merged documents and duplicate merges). */
  actor: string;
  entities: PgEntityIndex;
  /** The workspace adopted the model of the first vectors it received. */
  adoptModel(model: { modelId: string; dims: number }): void;
  /** The plan's memory limit (sync-server/src/plans/quota.ts); null: none. */
  quota: IngestQuota | null;
  /** A quota refusal refuses the whole batch (an HTTP write) rather than the changes past it (a push). */
  quotaRefusesAll: boolean;
}

/**
 * How many new memories a batch may create. Asked in the ingest transaction, under the
 * workspace row lock (so two writers cannot both take the last place), and only when the batch
 * creates memories: a change creating a doc id the workspace does not have, exactly the store's
 * "new". Updates and deletes of existing memories are never refused.
 */
export interface IngestQuota {
  admitNew(sql: Sql, adding: number): Promise<{ allowed: number; refusal: TribalError } | null>;
}

interface WorkspaceRow {
  next_seq: string;
  embedding_model: string | null;
  embedding_dims: number | null;
  entity_index_version: number;
}

/** What the database holds for the batch, read under the workspace row lock. */
interface IngestState {
  ws: WorkspaceRow;
  /** Seq of each change hash already in the log. */
  known: Map<string, number>;
  purged: Set<string>;
  saved: Map<string, { id: string; doc: Uint8Array; content_hash: string }>;
}

/** The outcome of checking and applying the batch to working copies of its documents. */
interface AppliedBatch {
  results: PushResult[];
  error: TribalError | null;
  accepted: { item: IngestItem; index: number }[];
  acceptedByDoc: Map<string, ChangeRecord[]>;
  working: Map<string, AutomergeMemoryDoc>;
  /** New memories read straight from their creating change, no Automerge document built. */
  created: Map<string, Memory>;
}

/**
 * Append changes in order in the caller's transaction: lock the workspace row, check and
 * apply each change to its document (merged with what the database holds, so a stale cached
 * document never overwrites what another process ingested), give the accepted ones the next
 * seqs, upsert the materialised rows and their entity index, merge cross-machine duplicates,
 * and NOTIFY every relay process.
 */
export async function ingestIn(
  ctx: IngestContext,
  sql: Sql,
  items: IngestItem[],
  deviceId: string | null,
  mergeDuplicates: boolean,
): Promise<IngestOutcome> {
  const state = await readIngestState(sql, ctx.workspaceId, items);
  const cut = ctx.quota ? await quotaCut(ctx.quota, sql, items, state) : null;
  if (cut && ctx.quotaRefusesAll) throw cut.refusal;
  // A push keeps moving past the memories the plan has no room for: their changes wait in the
  // device's outbox, the rest (edits and deletes of existing memories included) is stored.
  const admitted = cut ? items.filter((i) => !cut.refusedDocs.has(i.change.docId)) : items;
  const batch = applyBatch(ctx.actor, admitted, state);
  if (cut && !batch.error) batch.error = cut.refusal;
  const { results, error, accepted } = batch;
  if (!accepted.length) {
    const head = await logHead(sql, ctx.workspaceId);
    return { results, error, head, touched: [] };
  }
  await appendToLog(sql, ctx.workspaceId, batch, deviceId);
  const rows = await materialise(ctx, sql, state, batch);
  await upsertMemoryRows(sql, ctx.workspaceId, rows);
  if (state.ws.entity_index_version === ENTITY_INDEX_VERSION) {
    await ctx.entities.indexIn(
      sql,
      rows.map((r) => ({
        id: r.memory.id,
        content: isHidden(r.memory) ? null : r.memory.content,
        createdMs: Date.parse(r.memory.created_at) || 0,
      })),
    );
  } else {
    // The rows just written are in the table: one rebuild covers them too.
    await ctx.entities.reindexIn(sql);
    state.ws.entity_index_version = ENTITY_INDEX_VERSION;
  }
  const touched = new Set(rows.map((r) => r.memory.id));

  if (mergeDuplicates) {
    const merges = await duplicateMergeChanges(
      sql,
      ctx.workspaceId,
      ctx.actor,
      rows.map((r) => r.memory),
    );
    if (merges.length) {
      const inner = await ingestIn(ctx, sql, merges, null, false);
      if (inner.error) throw inner.error;
      for (const id of inner.touched) touched.add(id);
    }
  }
  const head = await logHead(sql, ctx.workspaceId);
  await notifyLogHead(sql, ctx.workspaceId, head);
  return { results, error, head, touched: [...touched] };
}

async function readIngestState(sql: Sql, ws: string, items: IngestItem[]): Promise<IngestState> {
  const [wsRow] = await sql.query<WorkspaceRow>(
    "SELECT next_seq::text AS next_seq, embedding_model, embedding_dims, entity_index_version FROM workspaces WHERE id = $1 FOR NO KEY UPDATE",
    [ws],
  );
  if (!wsRow) throw new TribalError("FORBIDDEN", "This workspace does not exist.");
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
  return { ws: wsRow, known, purged, saved };
}

/** The new memories of the batch past the plan's memory limit, in the batch's order. */
async function quotaCut(
  quota: IngestQuota,
  sql: Sql,
  items: IngestItem[],
  state: IngestState,
): Promise<{ refusedDocs: Set<string>; refusal: TribalError } | null> {
  const created: string[] = [];
  const seen = new Set<string>();
  for (const { change } of items) {
    const id = change.docId;
    if (seen.has(id) || state.saved.has(id) || state.purged.has(id)) continue;
    seen.add(id);
    created.push(id);
  }
  if (!created.length) return null;
  const admitted = await quota.admitNew(sql, created.length);
  if (!admitted) return null;
  return { refusedDocs: new Set(created.slice(admitted.allowed)), refusal: admitted.refusal };
}

/** Phase 1: check and apply each change in order to a working copy of its document. */
function applyBatch(actor: string, items: IngestItem[], state: IngestState): AppliedBatch {
  const { known, purged, saved } = state;
  const loadSaved = (docId: string): AutomergeMemoryDoc | null => {
    const bytes = saved.get(docId)?.doc ?? null;
    return bytes ? loadMemoryDoc(bytes, actor) : null;
  };
  const working = new Map<string, AutomergeMemoryDoc>();
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
      ? loadMemoryDoc((acceptedByDoc.get(change.docId) as ChangeRecord[])[0].bytes, actor)
      : null;
    if (fastBase) created.delete(change.docId);
    const base = fastBase ?? working.get(change.docId) ?? loadSaved(change.docId);
    // Already in the document though no longer in the log (pruned): a resend, not a new change.
    if (!fastBase && base && docHasChange(base, change.hash)) {
      results.push({ hash: change.hash, seq: null, status: "duplicate" });
      continue;
    }
    try {
      const applied = applyMemoryChanges(base, [change.bytes], actor);
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
          { hash: change.hash, doc_id: change.docId },
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
              { hash: change.hash, doc_id: change.docId },
            );
      // The working copy may hold the refused change queued: rebuild it from what was accepted.
      const ok = acceptedByDoc.get(change.docId);
      working.delete(change.docId);
      if (ok?.length) {
        working.set(
          change.docId,
          applyMemoryChanges(
            loadSaved(change.docId),
            ok.map((c) => c.bytes),
            actor,
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
  return { results, error, accepted, acceptedByDoc, working, created };
}

/** Phase 2: seqs under the workspace row lock, so seq order is commit order. */
async function appendToLog(
  sql: Sql,
  ws: string,
  batch: AppliedBatch,
  deviceId: string | null,
): Promise<void> {
  const { accepted, results } = batch;
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
}

/** Phase 3: materialise each touched document once, with the vector that still fits it. */
async function materialise(
  ctx: IngestContext,
  sql: Sql,
  state: IngestState,
  batch: AppliedBatch,
): Promise<MaterialisedRow[]> {
  const { accepted, acceptedByDoc, working, created } = batch;
  let model =
    state.ws.embedding_model && state.ws.embedding_dims
      ? { modelId: state.ws.embedding_model, dims: state.ws.embedding_dims }
      : null;
  const embeddingFor = new Map<string, StoredEmbedding>();
  for (const a of accepted) if (a.item.embedding) embeddingFor.set(a.item.change.docId, a.item.embedding);
  if (!model) {
    // A workspace adopts the model of the first vectors it receives.
    const first = [...embeddingFor.values()][0];
    if (first) {
      model = { modelId: first.modelId, dims: first.vector.length };
      await sql.query("UPDATE workspaces SET embedding_model = $2, embedding_dims = $3 WHERE id = $1", [
        ctx.workspaceId,
        model.modelId,
        model.dims,
      ]);
      ctx.adoptModel(model);
    }
  }
  const rows: MaterialisedRow[] = [];
  for (const docId of acceptedByDoc.keys()) {
    const doc = working.get(docId);
    const memory = created.get(docId) ?? materializeMemory(doc as AutomergeMemoryDoc);
    let embedding = embeddingFor.get(docId) ?? null;
    if (
      embedding &&
      (!model || embedding.modelId !== model.modelId || embedding.contentHash !== contentHash(memory.content))
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
      !state.saved.has(docId) && only.length === 1 ? only[0].bytes : saveMemoryDoc(doc as AutomergeMemoryDoc);
    rows.push({ memory, doc: docBytes, embedding });
  }
  return rows;
}
