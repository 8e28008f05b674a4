import { contentHash, dedupKey } from "@tribalmemory/shared/memory/content";
import type { ChangeRecord, StoredEmbedding } from "@tribalmemory/shared/memory/types";
import type { StoreWrite } from "@tribalmemory/shared/store/memory-store";
import { applyChangesToDoc } from "@tribalmemory/shared/sync/apply";
import {
  decodeBytes,
  decodeVector,
  encodeBytes,
  encodeVector,
  MAX_CHANGE_BYTES,
  syncPageBudget,
  type WireChange,
  type WireEmbedding,
  type WireEntry,
  wireEntryBytes,
} from "@tribalmemory/shared/sync/protocol";
import { compactChangeLog } from "./change-compaction.ts";
import type { SqliteMemoryStore } from "./sqlite-store.ts";

/**
 * The daemon's side of the change log in SQLite: reading the outbox in local order, marking
 * changes synced, applying the relay's entries (changes and purges) together with the cursor
 * in one transaction, the sync state kept in `sync_state` (the cursors of every stream the
 * sync client follows), and the dead letters: changes the relay refused for good, kept aside
 * so they never block the outbox. The sync client holds no SQL: it calls these.
 */

export function getSyncState(store: SqliteMemoryStore, key: string): string | null {
  const row = store.db.prepare("SELECT value FROM sync_state WHERE key = ?").get(key) as
    | { value: string }
    | undefined;
  return row ? row.value : null;
}

export function setSyncState(store: SqliteMemoryStore, key: string, value: string): void {
  store.db
    .prepare(
      "INSERT INTO sync_state (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    )
    .run(key, value);
}

export function syncCursor(store: SqliteMemoryStore): number {
  return Number(getSyncState(store, "cursor") ?? 0);
}

export function outboxLength(store: SqliteMemoryStore): number {
  return (store.db.prepare("SELECT count(*) AS n FROM outbox").get() as { n: number }).n;
}

export interface OutboxRead {
  /** The next push, in local order: at most `limit` changes and `maxBytes` on the wire. */
  changes: WireChange[];
  /**
   * Changes met before the cut that the relay could never accept: over its change cap, or of a
   * memory with a dead-lettered change (each later local change depends on that one). The
   * caller dead-letters them.
   */
  refused: { hash: string; code: string; message: string }[];
}

/**
 * The oldest unsynced local changes, in local order, each with its memory's current vector,
 * bounded in count and in wire bytes (the same page budget the relay uses, far below the
 * frame): 200 changes near the 128 KiB cap would otherwise make a 34 MB push that the relay's
 * socket closes on, every time. Always at least one change when the outbox holds any.
 */
export function readOutboxPage(
  store: SqliteMemoryStore,
  limit: number,
  maxBytes: number = syncPageBudget(),
): OutboxRead {
  // Vectors live in sqlite-vec's table, created once a model is set.
  const hasVectors =
    store.db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'vec_memories'").get() !== undefined;
  const rows = store.db
    .prepare(
      `SELECT c.doc_id, c.hash, c.deps, length(c.bytes) AS size,
         CASE WHEN length(c.bytes) <= ? THEN c.bytes END AS bytes, e.model_id, e.content_hash,
         ${hasVectors ? "(SELECT v.embedding FROM vec_memories v WHERE v.rowid = e.rid)" : "NULL"} AS vector,
         (SELECT d.hash FROM sync_dead_letters d WHERE d.doc_id = c.doc_id LIMIT 1) AS dead_dep
       FROM outbox o JOIN changes c ON c.seq = o.seq
       LEFT JOIN memories m ON m.id = c.doc_id
       LEFT JOIN embeddings e ON e.rid = m.rid AND e.content_hash = m.content_hash
       ORDER BY o.seq LIMIT ?`,
    )
    .iterate(MAX_CHANGE_BYTES, limit) as IterableIterator<{
    doc_id: string;
    hash: string;
    deps: string;
    size: number;
    bytes: Buffer | null;
    model_id: string | null;
    content_hash: string | null;
    vector: Buffer | null;
    dead_dep: string | null;
  }>;
  const picked: (typeof rows extends IterableIterator<infer R> ? R : never)[] = [];
  const refused: OutboxRead["refused"] = [];
  let total = 0;
  for (const r of rows) {
    if (r.bytes === null) {
      refused.push({
        hash: r.hash,
        code: "CHANGE_TOO_LARGE",
        message: `Change ${r.hash} of memory ${r.doc_id} is ${r.size} bytes; the relay accepts at most ${MAX_CHANGE_BYTES}.`,
      });
      continue;
    }
    if (r.dead_dep) {
      refused.push({
        hash: r.hash,
        code: "SYNC_MISSING_DEPS",
        message: `Change ${r.hash} of memory ${r.doc_id} depends on change ${r.dead_dep}, which the relay refused for good.`,
      });
      continue;
    }
    const deps = JSON.parse(r.deps) as string[];
    const cost = wireEntryBytes(r.size, deps.length, r.vector?.byteLength ?? 0);
    if (picked.length && total + cost > maxBytes) break;
    total += cost;
    picked.push(r);
  }
  const lastOfDoc = new Map<string, number>();
  for (const [i, r] of picked.entries()) lastOfDoc.set(r.doc_id, i);
  const changes = picked.map((r, i) => ({
    doc_id: r.doc_id,
    hash: r.hash,
    deps: JSON.parse(r.deps) as string[],
    bytes: encodeBytes(r.bytes as Buffer),
    // The vector travels once per memory per batch, with its last change.
    ...(r.vector && r.model_id && r.content_hash && lastOfDoc.get(r.doc_id) === i
      ? {
          embedding: {
            doc_id: r.doc_id,
            model_id: r.model_id,
            content_hash: r.content_hash,
            vector: encodeVector(new Float32Array(new Uint8Array(r.vector).buffer)),
          },
        }
      : {}),
  }));
  return { changes, refused };
}

/** The next push's changes (oversize ones left out: see readOutboxPage). */
export function readOutbox(store: SqliteMemoryStore, limit: number): WireChange[] {
  return readOutboxPage(store, limit).changes;
}

export interface DeadLetter {
  hash: string;
  doc_id: string;
  code: string;
  message: string;
  bytes: number;
  at: string;
}

/**
 * Move changes the relay refuses for good out of the outbox into `sync_dead_letters`, so the
 * changes after them keep syncing. Later outbox changes of the same memory go with them: each
 * depends on the one before (same actor), so the relay could only answer SYNC_MISSING_DEPS.
 * Returns how many changes were moved.
 */
export function deadLetter(
  store: SqliteMemoryStore,
  hash: string,
  reason: { code: string; message: string },
): number {
  const db = store.db;
  const row = db
    .prepare("SELECT c.seq, c.doc_id FROM changes c JOIN outbox o ON o.seq = c.seq WHERE c.hash = ?")
    .get(hash) as { seq: number; doc_id: string } | undefined;
  if (!row) return 0;
  return db
    .transaction(() => {
      const moved = db
        .prepare(
          `INSERT OR IGNORE INTO sync_dead_letters (seq, hash, doc_id, code, message, bytes, created_ms)
         SELECT c.seq, c.hash, c.doc_id, ?, ?, length(c.bytes), ?
         FROM outbox o JOIN changes c ON c.seq = o.seq WHERE c.doc_id = ? AND c.seq >= ?`,
        )
        .run(reason.code, reason.message, Date.now(), row.doc_id, row.seq).changes;
      db.prepare(
        "DELETE FROM outbox WHERE seq IN (SELECT seq FROM changes WHERE doc_id = ? AND seq >= ?)",
      ).run(row.doc_id, row.seq);
      return moved;
    })
    .immediate();
}

export function deadLetterCount(store: SqliteMemoryStore): number {
  return (store.db.prepare("SELECT count(*) AS n FROM sync_dead_letters").get() as { n: number }).n;
}

/** The most recent dead letters, newest first. */
export function listDeadLetters(store: SqliteMemoryStore, limit = 20): DeadLetter[] {
  const rows = store.db
    .prepare(
      "SELECT hash, doc_id, code, message, bytes, created_ms FROM sync_dead_letters ORDER BY seq DESC LIMIT ?",
    )
    .all(limit) as (Omit<DeadLetter, "at"> & { created_ms: number })[];
  return rows.map(({ created_ms, ...r }) => ({ ...r, at: new Date(created_ms).toISOString() }));
}

/** Drop acknowledged changes from the outbox, and compact those memories' change logs. */
export function markSynced(store: SqliteMemoryStore, hashes: string[]): void {
  if (!hashes.length) return;
  store.db
    .transaction(() => {
      store.db
        .prepare(
          "DELETE FROM outbox WHERE seq IN (SELECT seq FROM changes WHERE hash IN (SELECT value FROM json_each(?)))",
        )
        .run(JSON.stringify(hashes));
      compactChangeLog(store.db, docIdsOfChanges(store, hashes));
    })
    .immediate();
}

/** The memories the given changes belong to (changes not held are left out). */
export function docIdsOfChanges(store: SqliteMemoryStore, hashes: string[]): string[] {
  if (!hashes.length) return [];
  const rows = store.db
    .prepare("SELECT DISTINCT doc_id FROM changes WHERE hash IN (SELECT value FROM json_each(?))")
    .all(JSON.stringify(hashes)) as { doc_id: string }[];
  return rows.map((r) => r.doc_id);
}

/**
 * The memories this daemon shares with the relay's workspace: a change of each came from the
 * relay, or the relay acknowledged one (left the outbox, not as a dead letter). A memory only
 * ever written here and never acknowledged is not among them.
 */
export function memoriesSyncedWithRelay(store: SqliteMemoryStore): string[] {
  const rows = store.db
    .prepare(
      `SELECT DISTINCT c.doc_id FROM changes c WHERE c.origin = 'remote'
         OR (c.seq NOT IN (SELECT seq FROM outbox) AND c.seq NOT IN (SELECT seq FROM sync_dead_letters))`,
    )
    .all() as { doc_id: string }[];
  return rows.map((r) => r.doc_id);
}

/** Remove every trace of a memory: row, document, changes, outbox, vector, FTS, tags. */
export function purgeLocal(store: SqliteMemoryStore, id: string): boolean {
  return store.purgeSync(id);
}

export interface ApplyOutcome {
  /** applied; stale: nothing new (a late duplicate); gap: a batch before this one is missing. */
  status: "applied" | "stale" | "gap";
  touchedIds: string[];
  applied: number;
  /** Memories whose vector did not come with the changes (another model, or none): backfill. */
  needEmbedding: number;
}

/**
 * Apply a batch from the relay and advance the cursor in one SQLite transaction: a crash
 * leaves either both or neither. Changes already held are skipped (idempotent by hash).
 */
export function applyRemoteBatch(
  store: SqliteMemoryStore,
  actor: string,
  entries: WireEntry[],
  embeddings: WireEmbedding[],
  from: number,
  cursor: number,
): ApplyOutcome {
  const db = store.db;
  const known = db.prepare("SELECT 1 FROM changes WHERE hash = ?");
  const getDoc = db.prepare("SELECT d.bytes FROM docs d JOIN memories m ON m.rid = d.rid WHERE m.id = ?");
  const insertChange = db.prepare(
    "INSERT OR IGNORE INTO changes (doc_id, hash, deps, bytes, origin, created_ms) VALUES (?, ?, ?, ?, 'remote', ?)",
  );
  const vectors = new Map(embeddings.map((e) => [e.doc_id, e]));
  const outcome: ApplyOutcome = { status: "applied", touchedIds: [], applied: 0, needEmbedding: 0 };
  // Batches must join up: a batch starting past our cursor means one was lost (resync), one
  // ending at or before it was applied already. Overlap is fine: changes are idempotent.
  const current = syncCursor(store);
  // from = 0 is a full resend (the relay's log was restored): always joins up.
  if (from > current) return { ...outcome, status: "gap" };
  if (from !== 0 && cursor <= current) return { ...outcome, status: "stale" };
  db.transaction(() => {
    // Changes grouped per memory (causal order only binds within one document), applied
    // together (Automerge batches ~100x faster), then written in one store call.
    const groups = new Map<string, ChangeRecord[]>();
    const seen = new Set<string>();
    const purges: string[] = [];
    for (const e of entries) {
      if (e.kind === "purge") {
        purges.push(e.doc_id);
        continue;
      }
      if (seen.has(e.hash) || known.get(e.hash)) continue;
      seen.add(e.hash);
      const list = groups.get(e.doc_id) ?? [];
      list.push({ docId: e.doc_id, hash: e.hash, deps: e.deps, bytes: decodeBytes(e.bytes) });
      groups.set(e.doc_id, list);
    }
    const writes: StoreWrite[] = [];
    const now = Date.now();
    for (const [docId, group] of groups) {
      const saved = getDoc.get(docId) as { bytes: Buffer } | undefined;
      const result = applyChangesToDoc(saved ? new Uint8Array(saved.bytes) : null, group, docId, actor);
      const last = group[group.length - 1];
      for (const c of group.slice(0, -1))
        insertChange.run(c.docId, c.hash, JSON.stringify(c.deps), c.bytes, now);
      const write: StoreWrite = {
        memory: result.memory,
        dedupKey: dedupKey(result.memory.content),
        change: last,
        docBytes: result.docBytes,
        embedding: matchingEmbedding(store, vectors.get(docId), result.memory.content),
      };
      writes.push(write);
      outcome.touchedIds.push(docId);
      outcome.applied += group.length;
      if (!write.embedding && !result.memory.deleted && result.memory.duplicate_of === null)
        outcome.needEmbedding++;
    }
    if (writes.length) store.writeSync(writes, "remote");
    // The relay logs nothing for a memory after its purge, so purges go last.
    for (const id of purges) {
      purgeLocal(store, id);
      outcome.touchedIds.push(id);
    }
    compactChangeLog(db, groups.keys());
    setSyncState(store, "cursor", String(cursor));
  }).immediate();
  return outcome;
}

function matchingEmbedding(
  store: SqliteMemoryStore,
  wire: WireEmbedding | undefined,
  content: string,
): StoredEmbedding | null {
  const model = store.getMeta("embedding_model");
  const dims = Number(store.getMeta("embedding_dims") ?? 0);
  if (!wire || wire.model_id !== model || wire.content_hash !== contentHash(content)) return null;
  const vector = decodeVector(wire.vector);
  return vector.length === dims ? { modelId: wire.model_id, contentHash: wire.content_hash, vector } : null;
}
