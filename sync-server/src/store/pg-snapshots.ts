import { TribalError } from "@tribalmemory/shared/errors";
import {
  encodeBytes,
  encodeVector,
  syncPageBudget,
  type WireEmbedding,
  type WireSnapshotDoc,
  wireEntryBytes,
} from "@tribalmemory/shared/sync/protocol";
import type { Sql } from "./database.ts";
import { parseVector } from "./pg-vectors.ts";

/**
 * The relay's snapshot of a workspace (migration 12) and the pruning of its change log.
 *
 * The snapshot is `memories.doc`: each memory's saved Automerge document, rewritten in the
 * transaction that appends its changes, so it always covers the whole log for that memory. A
 * bootstrap reads the head S first and then pages the documents by id: each page is read later
 * than S, so it holds at least the log up to S (a memory created after S with an id already
 * paged past comes with the tail, seq > S). Purged memories are their tombstones in
 * `purged_docs`. No second copy of the documents is kept.
 */

export interface SnapshotPage {
  docs: WireSnapshotDoc[];
  embeddings: WireEmbedding[];
  /** Resume after this id; null when the page is empty. */
  last: string | null;
  more: boolean;
}

/**
 * Saved documents of the memories with id > `after`, by id, with their current vectors: at most
 * `limit` documents and `maxBytes` on the wire (always at least one document).
 */
export async function readSnapshotPageIn(
  sql: Sql,
  workspaceId: string,
  after: string,
  limit: number,
  maxBytes: number = syncPageBudget(),
): Promise<SnapshotPage> {
  // The running total stops the scan near the budget (as the log's page does, pg-log.ts);
  // one row past the cut comes back, so `more` is known without counting the rest.
  const rows = await sql.query<{
    id: string;
    doc: Uint8Array;
    embedding_model: string | null;
    embedding_hash: string | null;
    embedding: string | null;
  }>(
    `SELECT id, doc, embedding_model, embedding_hash, embedding FROM (
       SELECT id, doc, embedding_model, embedding_hash,
         CASE WHEN embedding_hash = content_hash THEN embedding::text END AS embedding,
         coalesce(sum(octet_length(doc) + coalesce(embedding_dims, 0) * 4 + 200) OVER (ORDER BY id
           ROWS BETWEEN UNBOUNDED PRECEDING AND 2 PRECEDING), 0) AS before_previous
       FROM memories WHERE workspace_id = $1 AND id > $2 ORDER BY id LIMIT $3
     ) t WHERE before_previous < $4 ORDER BY id`,
    [workspaceId, after, limit + 1, maxBytes],
  );
  const docs: WireSnapshotDoc[] = [];
  const embeddings: WireEmbedding[] = [];
  let bytes = 0;
  for (const r of rows.slice(0, limit)) {
    const vector = r.embedding ? parseVector(r.embedding) : null;
    const cost = wireEntryBytes(r.doc.byteLength, 0, vector ? vector.byteLength : 0);
    if (docs.length && bytes + cost > maxBytes) break;
    bytes += cost;
    docs.push({ doc_id: r.id, bytes: encodeBytes(r.doc) });
    if (vector && r.embedding_model && r.embedding_hash)
      embeddings.push({
        doc_id: r.id,
        model_id: r.embedding_model,
        content_hash: r.embedding_hash,
        vector: encodeVector(vector),
      });
  }
  return { docs, embeddings, last: docs.at(-1)?.doc_id ?? null, more: rows.length > docs.length };
}

/** Ids of the workspace's purged memories after `after`, by id (a page of ids: ~40 bytes each). */
export async function readPurgedPageIn(
  sql: Sql,
  workspaceId: string,
  after: string,
  limit: number,
): Promise<{ ids: string[]; more: boolean }> {
  const rows = await sql.query<{ doc_id: string }>(
    "SELECT doc_id FROM purged_docs WHERE workspace_id = $1 AND doc_id > $2 ORDER BY doc_id LIMIT $3",
    [workspaceId, after, limit + 1],
  );
  return { ids: rows.slice(0, limit).map((r) => r.doc_id), more: rows.length > limit };
}

/** The head and the pruned horizon of the workspace's log. */
export async function logBounds(sql: Sql, workspaceId: string): Promise<{ head: number; horizon: number }> {
  const [r] = await sql.query<{ head: string; horizon: string }>(
    "SELECT (next_seq - 1)::text AS head, log_horizon::text AS horizon FROM workspaces WHERE id = $1",
    [workspaceId],
  );
  return { head: Number(r?.head ?? 0), horizon: Number(r?.horizon ?? 0) };
}

/** The error for a reader whose cursor the log no longer holds. */
export function cursorPrunedError(cursor: number, horizon: number): TribalError {
  return new TribalError(
    "SYNC_CURSOR_PRUNED",
    `The relay pruned its change log up to seq ${horizon}, past this cursor (${cursor}): re-bootstrap from the snapshot (a daemon of sync protocol 3 or later does so by itself; upgrade an older one).`,
    { cursor, horizon },
  );
}

export interface PruneOptions {
  /** A device not seen for this long no longer holds the horizon back (it re-bootstraps). */
  staleDeviceMs: number;
  /** Changes younger than this are kept (brief disconnections and HTTP pulls replay them). */
  keepMs: number;
  /** Changes deleted per pass at most. */
  batch?: number;
}

export interface PruneOutcome {
  /** Changes deleted in this pass. */
  deleted: number;
  /** The horizon after the pass. */
  horizon: number;
  /** The seq the log may be pruned up to now: every active device's cursor, and the age limit. */
  target: number;
  /** More can be deleted now (the pass stopped at its batch). */
  more: boolean;
}

/** Changes deleted per pass: bounded so a pass never holds the workspace long. */
export const PRUNE_BATCH = 5_000;

/**
 * One bounded pruning pass in the caller's workspace transaction. Deletes the changes with seq
 * at or below every active device's acknowledged cursor (devices seen within `staleDeviceMs`)
 * and older than `keepMs`; everything deleted is covered by `memories.doc` (and purges by
 * `purged_docs`), so a snapshot still rebuilds it. Raises `log_horizon` in the same transaction,
 * so a reader sees the deletion and the new horizon together (pg-log.ts reads both in one
 * statement).
 */
export async function pruneLogIn(
  sql: Sql,
  workspaceId: string,
  options: PruneOptions,
): Promise<PruneOutcome> {
  const batch = options.batch ?? PRUNE_BATCH;
  // Locked like an ingest, so the head and the cursors are read against a still log.
  const [ws] = await sql.query<{ head: string; horizon: string }>(
    "SELECT (next_seq - 1)::text AS head, log_horizon::text AS horizon FROM workspaces WHERE id = $1 FOR NO KEY UPDATE",
    [workspaceId],
  );
  if (!ws) return { deleted: 0, horizon: 0, target: 0, more: false };
  const horizon = Number(ws.horizon);
  const [t] = await sql.query<{ by_devices: string | null; by_age: string | null }>(
    `SELECT
       (SELECT min(cursor)::text FROM devices WHERE workspace_id = $1
          AND last_seen_at > now() - make_interval(secs => $2::float8 / 1000)) AS by_devices,
       (SELECT max(seq)::text FROM changes WHERE workspace_id = $1 AND seq > $3
          AND created_at <= now() - make_interval(secs => $4::float8 / 1000)) AS by_age`,
    [workspaceId, options.staleDeviceMs, horizon, options.keepMs],
  );
  // No active device: nothing holds the log back but its age (new devices take the snapshot).
  const byDevices = t.by_devices === null ? Number(ws.head) : Number(t.by_devices);
  const byAge = t.by_age === null ? horizon : Number(t.by_age);
  const target = Math.min(byDevices, byAge, Number(ws.head));
  if (target <= horizon) return { deleted: 0, horizon, target, more: false };
  const gone = await sql.query<{ seq: string }>(
    `DELETE FROM changes WHERE workspace_id = $1 AND seq IN (
       SELECT seq FROM changes WHERE workspace_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq LIMIT $4
     ) RETURNING seq::text AS seq`,
    [workspaceId, horizon, target, batch],
  );
  const more = gone.length >= batch;
  const reached = more ? Math.max(...gone.map((r) => Number(r.seq))) : target;
  await sql.query("UPDATE workspaces SET log_horizon = GREATEST(log_horizon, $2) WHERE id = $1", [
    workspaceId,
    reached,
  ]);
  return { deleted: gone.length, horizon: reached, target, more };
}
