/**
 * Migration 12: bootstrap by snapshot, and a change log that is pruned.
 *
 * The snapshot needs no table of its own: `memories.doc` is each memory's saved Automerge
 * document, rewritten in the same transaction that appends the memory's changes to `changes`
 * (pg-ingest.ts), so at any commit it covers every change of the log for that memory. A
 * snapshot that reads the head S first and the documents after holds at least the log up to S
 * (sync-server/src/store/pg-snapshots.ts). A purged memory's tombstone is `purged_docs`.
 *
 * - `workspaces.log_horizon`: the highest seq that pruning may have deleted (0: the log is
 *   whole). A reader whose cursor is below it cannot be replayed the log: SYNC_CURSOR_PRUNED,
 *   and a daemon re-bootstraps from the snapshot. Only raised, never lowered.
 */
export const V12_SNAPSHOTS = `
ALTER TABLE workspaces ADD COLUMN IF NOT EXISTS log_horizon bigint NOT NULL DEFAULT 0;
`;
