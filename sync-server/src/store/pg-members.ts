/**
 * A workspace's members and their roles. The rules that guard ownership live here, under the
 * owners' row locks, so two concurrent changes cannot both pass: only an owner makes or
 * unmakes owners, and the last owner cannot leave, be removed or be demoted. Removing a member
 * revokes every key they created in the workspace (their sockets close via NOTIFY).
 */
import { TribalError } from "@tribalmemory/shared/errors";
import type { Role } from "../auth/api-keys.ts";
import type { RelayDatabase, Sql } from "./database.ts";
import { writeAccountAudit } from "./pg-account-audit.ts";
import { EVENTS_CHANNEL } from "./pg-store.ts";
import type { WorkspaceActor } from "./pg-workspaces.ts";

export interface MemberInfo {
  user_id: string;
  email: string | null;
  name: string;
  role: Role;
}

export async function listMembers(db: RelayDatabase, workspaceId: string): Promise<MemberInfo[]> {
  const rows = await db.tx(workspaceId, (sql) =>
    sql.query<MemberInfo>(
      `SELECT m.user_id, u.email, u.name, m.role FROM memberships m JOIN users u ON u.id = m.user_id
       WHERE m.workspace_id = $1 ORDER BY u.created_at, m.user_id`,
      [workspaceId],
    ),
  );
  return rows;
}

/** Lock the workspace's owners and read the target's role (MEMBER_NOT_FOUND when absent). */
async function lockOwnersAndTarget(
  sql: Sql,
  workspaceId: string,
  userId: string,
): Promise<{ owners: string[]; targetRole: Role }> {
  const owners = await sql.query<{ user_id: string }>(
    "SELECT user_id FROM memberships WHERE workspace_id = $1 AND role = 'owner' FOR UPDATE",
    [workspaceId],
  );
  const [target] = await sql.query<{ role: Role }>(
    "SELECT role FROM memberships WHERE workspace_id = $1 AND user_id = $2 FOR UPDATE",
    [workspaceId, userId],
  );
  if (!target) throw new TribalError("MEMBER_NOT_FOUND", `No member ${userId} in this workspace.`);
  return { owners: owners.map((o) => o.user_id), targetRole: target.role };
}

function lastOwner(what: string): TribalError {
  return new TribalError(
    "LAST_OWNER",
    `The workspace's last owner cannot ${what}: make another member owner first (PATCH /v1/workspaces/:id/members/:userId {"role":"owner"}).`,
  );
}

function ownerOnly(): TribalError {
  return new TribalError("ROLE_FORBIDDEN", "Only an owner makes or unmakes owners.");
}

export async function setMemberRole(
  db: RelayDatabase,
  workspaceId: string,
  userId: string,
  role: Role,
  actor: WorkspaceActor,
): Promise<MemberInfo> {
  await db.tx(workspaceId, async (sql) => {
    const { owners, targetRole } = await lockOwnersAndTarget(sql, workspaceId, userId);
    if ((role === "owner" || targetRole === "owner") && role !== targetRole && actor.role !== "owner") {
      throw ownerOnly();
    }
    if (targetRole === "owner" && role !== "owner" && owners.length === 1) throw lastOwner("be demoted");
    await sql.query("UPDATE memberships SET role = $3 WHERE workspace_id = $1 AND user_id = $2", [
      workspaceId,
      userId,
      role,
    ]);
    await writeAccountAudit(sql, {
      workspaceId,
      userId: actor.userId,
      keyId: actor.keyId,
      action: "member.role",
      target: userId,
      details: { from: targetRole, to: role },
    });
  });
  return (await listMembers(db, workspaceId)).find((m) => m.user_id === userId) as MemberInfo;
}

/**
 * Remove a member (an admin's act, or the member's own: leaving). Their keys in this
 * workspace are revoked in the same transaction, and open sockets on them close.
 */
export async function removeMember(
  db: RelayDatabase,
  workspaceId: string,
  userId: string,
  actor: WorkspaceActor,
): Promise<{ revokedKeyIds: string[] }> {
  return db.tx(workspaceId, async (sql) => {
    const { owners, targetRole } = await lockOwnersAndTarget(sql, workspaceId, userId);
    const self = actor.userId === userId;
    if (targetRole === "owner" && !self && actor.role !== "owner") throw ownerOnly();
    if (targetRole === "owner" && owners.length === 1) throw lastOwner(self ? "leave" : "be removed");
    await sql.query("DELETE FROM memberships WHERE workspace_id = $1 AND user_id = $2", [
      workspaceId,
      userId,
    ]);
    const revoked = await sql.query<{ id: string }>(
      "UPDATE api_keys SET revoked_at = now() WHERE workspace_id = $1 AND user_id = $2 AND revoked_at IS NULL RETURNING id",
      [workspaceId, userId],
    );
    for (const { id } of revoked) {
      await writeAccountAudit(sql, {
        workspaceId,
        userId: actor.userId,
        keyId: actor.keyId,
        action: "key.revoke",
        target: id,
        details: { reason: "member.remove" },
      });
      await sql.query("SELECT pg_notify($1, $2)", [EVENTS_CHANNEL, `r:${id}`]);
    }
    await writeAccountAudit(sql, {
      workspaceId,
      userId: actor.userId,
      keyId: actor.keyId,
      action: self ? "member.leave" : "member.remove",
      target: userId,
      details: { role: targetRole, revoked_keys: revoked.length },
    });
    return { revokedKeyIds: revoked.map((r) => r.id) };
  });
}
