import {
  decodeBytes,
  encodeBytes,
  type ServerMessage,
  type WireEntry,
} from "@tribalmemory/shared/sync/protocol";
import { changesOfSavedDoc } from "@tribalmemory/shared/sync/snapshot";
import type { SqliteMemoryStore } from "../store/sqlite-store.ts";
import { type ApplyOutcome, applyRemoteBatch, syncCursor } from "../store/sync-log-store.ts";

export type SnapshotPage = Extract<ServerMessage, { type: "snapshot" }>;

/**
 * Apply one page of a bootstrap by snapshot (sync protocol 3). Each saved document is turned
 * back into its changes and applied like a replayed batch (applyRemoteBatch: changes already
 * held are skipped, local unsynced edits merge, the row, vector and change table are written in
 * one transaction), so a snapshot leaves exactly the documents and heads a replay would. The
 * purged ids are purged here too. The cursor moves, to the snapshot's S, only with the last page
 * (`done`): a bootstrap cut short starts again, and applying a document twice is a no-op.
 */
export function applySnapshotPage(store: SqliteMemoryStore, actor: string, page: SnapshotPage): ApplyOutcome {
  const entries: WireEntry[] = [];
  for (const d of page.docs) {
    for (const c of changesOfSavedDoc(d.doc_id, decodeBytes(d.bytes)))
      entries.push({
        seq: 0,
        kind: "change",
        doc_id: d.doc_id,
        hash: c.hash,
        deps: c.deps,
        bytes: encodeBytes(c.bytes),
      });
  }
  for (const id of page.purged) entries.push({ seq: 0, kind: "purge", doc_id: id });
  // from 0: a page of a snapshot always joins up; the cursor stays where it is until `done`.
  return applyRemoteBatch(
    store,
    actor,
    entries,
    page.embeddings,
    0,
    page.done ? page.cursor : syncCursor(store),
  );
}

/** A `changes` batch (the log) or a `snapshot` page, applied with the cursor in one transaction. */
export function applyRelayBatch(
  store: SqliteMemoryStore,
  actor: string,
  msg: SnapshotPage | Extract<ServerMessage, { type: "changes" }>,
): ApplyOutcome {
  if (msg.type === "snapshot") return applySnapshotPage(store, actor, msg);
  return applyRemoteBatch(store, actor, msg.entries, msg.embeddings, msg.from, msg.cursor);
}

/** `TRIBAL_MEMORY_SYNC_SNAPSHOT=0`: ask to be replayed the log instead (diagnostics, benchmarks). */
export function helloSnapshotField(env: NodeJS.ProcessEnv = process.env): { snapshot?: false } {
  return env.TRIBAL_MEMORY_SYNC_SNAPSHOT === "0" ? { snapshot: false } : {};
}
