/**
 * Workspaces as a user manages them: list, create (the caller owns it), rename, and delete
 * with a confirmation token. Deleting removes every row of the workspace: the tenant tables
 * cascade from `workspaces`; `api_key_lookup` (no foreign key: it is read before a workspace
 * is known) is deleted by hand. Its keys' sockets close and daemons hear `w:<id>`.
 */
import { randomUUID } from "node:crypto";
import { TribalError } from "@tribalmemory/shared/errors";
import type { Role } from "../auth/api-keys.ts";
import type { RelayDatabase } from "./database.ts";
import { scopeToUser, writeAccountAudit } from "./pg-account-audit.ts";
import { insertOwnedWorkspaceIn, iso, type WorkspaceMembership, workspacesOfUser } from "./pg-accounts.ts";
import { DEFAULT_REGION } from "./pg-regions.ts";
import { EVENTS_CHANNEL } from "./pg-store.ts";

/** Who acts on a workspace: a user (login session, or a key's creator) and/or an admin key. */
export interface WorkspaceActor {
  userId: string | null;
  keyId: string | null;
  role: Role;
}

/** How long a deletion's confirmation token is good for. */
export const DELETION_CONFIRMATION_TTL_MS = 10 * 60 * 1000;

export async function listWorkspaces(db: RelayDatabase, userId: string): Promise<WorkspaceMembership[]> {
  return db.tx(null, async (sql) => {
    await scopeToUser(sql, userId);
    return workspacesOfUser(sql);
  });
}

/** A user's role in a workspace, or null when they are not a member. */
export async function memberRole(
  db: RelayDatabase,
  workspaceId: string,
  userId: string,
): Promise<Role | null> {
  const [row] = await db.tx(workspaceId, (sql) =>
    sql.query<{ role: Role }>("SELECT role FROM memberships WHERE workspace_id = $1 AND user_id = $2", [
      workspaceId,
      userId,
    ]),
  );
  return row?.role ?? null;
}

/** A new workspace owned by `userId`, in `region` (migration 7; absent: the default region). */
export async function createOwnedWorkspace(
  db: RelayDatabase,
  userId: string,
  name: string,
  region: string = DEFAULT_REGION,
): Promise<WorkspaceMembership> {
  const workspaceId = randomUUID();
  return db.tx(workspaceId, async (sql) => {
    const createdAt = await insertOwnedWorkspaceIn(sql, { workspaceId, userId, name, region });
    return { id: workspaceId, name, role: "owner" as const, created_at: createdAt };
  });
}

export async function renameWorkspace(
  db: RelayDatabase,
  workspaceId: string,
  name: string,
  actor: WorkspaceActor,
): Promise<{ id: string; name: string }> {
  return db.tx(workspaceId, async (sql) => {
    const [old] = await sql.query<{ name: string }>("SELECT name FROM workspaces WHERE id = $1 FOR UPDATE", [
      workspaceId,
    ]);
    if (!old) throw notFound(workspaceId);
    await sql.query("UPDATE workspaces SET name = $2 WHERE id = $1", [workspaceId, name]);
    await writeAccountAudit(sql, {
      workspaceId,
      userId: actor.userId,
      keyId: actor.keyId,
      action: "workspace.rename",
      target: workspaceId,
      details: { from: old.name, to: name },
    });
    return { id: workspaceId, name };
  });
}

/** The first step of a deletion: a confirmation token for this user and workspace (its hash stored). */
export async function requestWorkspaceDeletion(
  db: RelayDatabase,
  workspaceId: string,
  userId: string,
  tokenHash: string,
): Promise<{ expiresAt: string }> {
  return db.tx(workspaceId, async (sql) => {
    await sql.query(
      "DELETE FROM workspace_deletion_requests WHERE workspace_id = $1 AND expires_at < now()",
      [workspaceId],
    );
    const [row] = await sql.query<{ expires_at: Date }>(
      `INSERT INTO workspace_deletion_requests (workspace_id, token_hash, user_id, expires_at)
       VALUES ($1, $2, $3, now() + make_interval(secs => $4)) RETURNING expires_at`,
      [workspaceId, tokenHash, userId, DELETION_CONFIRMATION_TTL_MS / 1000],
    );
    return { expiresAt: iso(row.expires_at) };
  });
}

/**
 * Delete a workspace and every row of it, once `confirmationHash` matches a live request of
 * `byUserId` (pass null to skip the check: an operator's own call). Returns the ids of the
 * keys it had, whose sockets the caller's relay closes through the same NOTIFY as any relay.
 */
export async function deleteWorkspace(
  db: RelayDatabase,
  workspaceId: string,
  byUserId: string,
  confirmationHash: string | null = null,
): Promise<{ deletedKeyIds: string[] }> {
  return db.tx(workspaceId, async (sql) => {
    if (confirmationHash !== null) {
      const ok = await sql.query(
        "DELETE FROM workspace_deletion_requests WHERE workspace_id = $1 AND token_hash = $2 AND user_id = $3 AND expires_at > now() RETURNING 1",
        [workspaceId, confirmationHash, byUserId],
      );
      if (!ok.length) {
        throw new TribalError(
          "CONFIRMATION_INVALID",
          "This confirmation token is wrong, expired, or another user's: send DELETE again without a token for a new one.",
        );
      }
    }
    const keys = await sql.query<{ id: string }>("SELECT id FROM api_keys WHERE workspace_id = $1", [
      workspaceId,
    ]);
    await sql.query("DELETE FROM api_key_lookup WHERE workspace_id = $1", [workspaceId]);
    // A reference table with no foreign key to workspaces (migration 13): deleted here.
    await sql.query("DELETE FROM billing_customers WHERE workspace_id = $1", [workspaceId]);
    const deleted = await sql.query("DELETE FROM workspaces WHERE id = $1 RETURNING id", [workspaceId]);
    if (!deleted.length) throw notFound(workspaceId);
    for (const { id } of keys) await sql.query("SELECT pg_notify($1, $2)", [EVENTS_CHANNEL, `r:${id}`]);
    await sql.query("SELECT pg_notify($1, $2)", [EVENTS_CHANNEL, `w:${workspaceId}`]);
    return { deletedKeyIds: keys.map((k) => k.id) };
  });
}

function notFound(workspaceId: string): TribalError {
  return new TribalError("WORKSPACE_NOT_FOUND", `No workspace ${workspaceId} that you are a member of.`);
}
