import { TribalError } from "@tribalmemory/shared/errors";
import type { RelayDatabase } from "./database.ts";

/**
 * Deleted workspaces leave a tombstone (migration 7: a trigger on `workspaces`, and one on
 * `api_key_lookup` for their keys' hashes), so a key of a deleted workspace is told so
 * (WORKSPACE_DELETED, 410) instead of "unknown key": a daemon that was offline when the
 * workspace went learns it when it comes back, and purges its copy.
 */

/** Throws WORKSPACE_DELETED when the key of this SHA-256 belonged to a deleted workspace. */
export async function refuseKeyOfDeletedWorkspace(db: RelayDatabase, keyHash: string): Promise<void> {
  const [row] = await db.statement<{ workspace_id: string; deleted_at: Date | string }>(
    "SELECT workspace_id, deleted_at FROM tm_deleted_workspace_of_key($1)",
    [keyHash],
  );
  if (!row) return;
  const deletedAt = new Date(row.deleted_at).toISOString();
  throw new TribalError(
    "WORKSPACE_DELETED",
    `The workspace of this API key was deleted at ${deletedAt}; its data is gone from the relay. Configure a key of another workspace to sync again.`,
    { workspace_id: row.workspace_id, deleted_at: deletedAt },
  );
}

/** When the workspace was deleted (ISO), or null while it exists. */
export async function workspaceDeletedAt(db: RelayDatabase, workspaceId: string): Promise<string | null> {
  const [row] = await db.statement<{ deleted_at: Date | string }>(
    "SELECT deleted_at FROM workspace_tombstones WHERE workspace_id = $1",
    [workspaceId],
  );
  return row ? new Date(row.deleted_at).toISOString() : null;
}
