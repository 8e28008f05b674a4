import {
  encodeBytes,
  encodeVector,
  syncPageBudget,
  type WireEmbedding,
  type WireEntry,
  wireEntryBytes,
} from "@tribalmemory/shared/sync/protocol";
import type { Sql } from "./database.ts";
import { cursorPrunedError, logBounds } from "./pg-snapshots.ts";
import { parseVector } from "./pg-vectors.ts";

/** NOTIFY channel of the relay: `c:<workspace>:<seq>` after a commit, `r:<key id>` on revocation. */
export const EVENTS_CHANNEL = "tm_events";

/** Highest seq in the workspace's log (0 when empty). */
export async function logHead(sql: Sql, workspaceId: string): Promise<number> {
  const [r] = await sql.query<{ h: string }>(
    "SELECT (next_seq - 1)::text AS h FROM workspaces WHERE id = $1",
    [workspaceId],
  );
  return Number(r?.h ?? 0);
}

/** Wakes every relay process's sockets of the workspace once the transaction commits. */
export async function notifyLogHead(sql: Sql, workspaceId: string, head: number | string): Promise<void> {
  await sql.query("SELECT pg_notify($1, $2)", [EVENTS_CHANNEL, `c:${workspaceId}:${head}`]);
}

/** One page of the log: entries after `from`, the cursor after them, whether more follow. */
export interface LogPage {
  entries: WireEntry[];
  embeddings: WireEmbedding[];
  from: number;
  cursor: number;
  more: boolean;
}

/**
 * Log entries with seq > cursor, and the current vectors of the memories they touch: at most
 * `limit` entries and `maxBytes` of JSON (the page budget, far below the clients' frame
 * limit). Always at least one entry; the change cap keeps any one entry under the budget.
 */
export async function readLogIn(
  sql: Sql,
  workspaceId: string,
  cursor: number,
  limit: number,
  options: { skipDevice?: string | null; withEmbeddings?: boolean; maxBytes?: number } = {},
): Promise<LogPage> {
  const maxBytes = options.maxBytes ?? syncPageBudget();
  const withEmbeddings = options.withEmbeddings !== false;
  const rows = await sql.query<{
    seq: number;
    kind: string;
    doc_id: string;
    hash: string;
    deps: string[];
    bytes: Uint8Array | null;
    device_id: string | null;
    horizon: number;
  }>(
    // The running byte total stops the scan near the budget, so a page of large changes
    // is not read whole only to be cut; the exact cut (vectors included) is below. Rows are
    // kept while the bytes before the previous row are under budget: one row past the cut
    // comes back, so `more` is known without counting the rest of the log. The pruned horizon
    // comes in the same statement (one snapshot): pruning deletes and raises it in one commit.
    `SELECT seq, kind, doc_id, hash, deps, bytes, device_id,
       (SELECT log_horizon FROM workspaces WHERE id = $1)::float8 AS horizon FROM (
       SELECT seq::float8 AS seq, kind, doc_id, hash, deps, bytes, device_id,
         coalesce(sum(coalesce(octet_length(bytes), 0) + 200) OVER (ORDER BY seq
           ROWS BETWEEN UNBOUNDED PRECEDING AND 2 PRECEDING), 0) AS before_previous
       FROM changes WHERE workspace_id = $1 AND seq > $2 ORDER BY seq LIMIT $3
     ) t WHERE before_previous < $4 ORDER BY seq`,
    [workspaceId, cursor, limit + 1, maxBytes],
  );
  // Rows after a pruned cursor may be gone: the reader must take the snapshot instead. With no
  // row read, the horizon read after is at least the one at the read (refusing is the safe side).
  const horizon = rows.length ? rows[0].horizon : (await logBounds(sql, workspaceId)).horizon;
  if (cursor < horizon) throw cursorPrunedError(cursor, horizon);
  const [ws] = withEmbeddings
    ? await sql.query<{ dims: number | null }>(
        "SELECT embedding_dims AS dims FROM workspaces WHERE id = $1",
        [workspaceId],
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
      [workspaceId, docIds],
    );
    embeddings = vecs.map((v) => ({
      doc_id: v.id,
      model_id: v.embedding_model,
      content_hash: v.embedding_hash,
      vector: encodeVector(parseVector(v.embedding)),
    }));
  }
  return { entries, embeddings, from: cursor, cursor: last, more };
}
