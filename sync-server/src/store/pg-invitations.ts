/**
 * Invitations to a workspace: a token shown once (its SHA-256 stored), a role, an expiry, and
 * optionally the one email that may accept it. Accepting looks the token up before any scope
 * is known (`tm_invitation_lookup`, migration 5), then runs under the invitation's workspace.
 */
import { randomUUID } from "node:crypto";
import { TribalError } from "@tribalmemory/shared/errors";
import type { Role } from "../auth/api-keys.ts";
import type { RelayDatabase } from "./database.ts";
import { scopeToUser, writeAccountAudit } from "./pg-account-audit.ts";
import { iso } from "./pg-accounts.ts";
import type { WorkspaceActor } from "./pg-workspaces.ts";

export type InvitedRole = Exclude<Role, "owner">;

export interface InvitationInfo {
  id: string;
  email: string | null;
  role: InvitedRole;
  created_at: string;
  expires_at: string;
  created_by: { user_id: string | null; key_id: string | null };
}

interface InvitationRow {
  id: string;
  email: string | null;
  role: InvitedRole;
  created_at: Date;
  expires_at: Date;
  created_by: string | null;
  created_by_key: string | null;
}

function info(r: InvitationRow): InvitationInfo {
  return {
    id: r.id,
    email: r.email,
    role: r.role,
    created_at: iso(r.created_at),
    expires_at: iso(r.expires_at),
    created_by: { user_id: r.created_by, key_id: r.created_by_key },
  };
}

export async function createInvitation(
  db: RelayDatabase,
  workspaceId: string,
  options: {
    email: string | null;
    role: InvitedRole;
    tokenHash: string;
    ttlMs: number;
    actor: WorkspaceActor;
  },
): Promise<InvitationInfo> {
  const id = randomUUID();
  return db.tx(workspaceId, async (sql) => {
    const [row] = await sql.query<InvitationRow>(
      `INSERT INTO invitations (id, workspace_id, email, role, token_hash, created_by, created_by_key, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, now() + make_interval(secs => $8))
       RETURNING id, email, role, created_at, expires_at, created_by, created_by_key`,
      [
        id,
        workspaceId,
        options.email,
        options.role,
        options.tokenHash,
        options.actor.userId,
        options.actor.keyId,
        options.ttlMs / 1000,
      ],
    );
    await writeAccountAudit(sql, {
      workspaceId,
      userId: options.actor.userId,
      keyId: options.actor.keyId,
      action: "invitation.create",
      target: id,
      details: { role: options.role, ...(options.email ? { email: options.email } : {}) },
    });
    return info(row);
  });
}

/** Invitations neither accepted nor revoked (an expired one is listed until then, `expires_at` says so). */
export async function listInvitations(db: RelayDatabase, workspaceId: string): Promise<InvitationInfo[]> {
  const rows = await db.tx(workspaceId, (sql) =>
    sql.query<InvitationRow>(
      `SELECT id, email, role, created_at, expires_at, created_by, created_by_key FROM invitations
       WHERE workspace_id = $1 AND accepted_at IS NULL AND revoked_at IS NULL ORDER BY created_at`,
      [workspaceId],
    ),
  );
  return rows.map(info);
}

export async function revokeInvitation(
  db: RelayDatabase,
  workspaceId: string,
  invitationId: string,
  actor: WorkspaceActor,
): Promise<void> {
  await db.tx(workspaceId, async (sql) => {
    const rows = await sql.query(
      "UPDATE invitations SET revoked_at = now() WHERE workspace_id = $1 AND id = $2 AND accepted_at IS NULL AND revoked_at IS NULL RETURNING id",
      [workspaceId, invitationId],
    );
    if (!rows.length) {
      throw new TribalError(
        "INVITATION_NOT_FOUND",
        `No pending invitation ${invitationId} in this workspace.`,
      );
    }
    await writeAccountAudit(sql, {
      workspaceId,
      userId: actor.userId,
      keyId: actor.keyId,
      action: "invitation.revoke",
      target: invitationId,
    });
  });
}

/**
 * Accept an invitation as `userId`: a membership with its role (a user already a member keeps
 * the role they have). Each token works once; the checks and the acceptance share one row lock.
 */
export async function acceptInvitation(
  db: RelayDatabase,
  tokenHash: string,
  userId: string,
): Promise<{ workspaceId: string; role: Role; alreadyMember: boolean }> {
  const [found] = await db.statement<{ invitation_id: string; workspace_id: string }>(
    "SELECT invitation_id, workspace_id FROM tm_invitation_lookup($1)",
    [tokenHash],
  );
  if (!found) throw notFound();
  return db.tx(found.workspace_id, async (sql) => {
    await scopeToUser(sql, userId);
    const [inv] = await sql.query<{
      email: string | null;
      role: InvitedRole;
      expires_at: Date;
      accepted_at: Date | null;
      revoked_at: Date | null;
      expired: boolean;
    }>(
      "SELECT email, role, expires_at, accepted_at, revoked_at, expires_at <= now() AS expired FROM invitations WHERE workspace_id = $1 AND id = $2 FOR UPDATE",
      [found.workspace_id, found.invitation_id],
    );
    if (!inv || inv.revoked_at) throw notFound();
    if (inv.accepted_at) {
      throw new TribalError(
        "INVITATION_USED",
        `This invitation was accepted at ${iso(inv.accepted_at)}; each works once.`,
      );
    }
    if (inv.expired) {
      throw new TribalError(
        "INVITATION_EXPIRED",
        `This invitation expired at ${iso(inv.expires_at)}: ask an admin of the workspace for a new one.`,
      );
    }
    const [me] = await sql.query<{ email: string | null }>("SELECT email FROM users WHERE id = tm_user()");
    if (inv.email && inv.email !== me?.email) {
      throw new TribalError(
        "INVITATION_EMAIL_MISMATCH",
        "This invitation is for another email address: log in as that user, or ask for an invitation to yours.",
      );
    }
    const inserted = await sql.query<{ role: Role }>(
      "INSERT INTO memberships (workspace_id, user_id, role) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING role",
      [found.workspace_id, userId, inv.role],
    );
    const [current] = inserted.length
      ? inserted
      : await sql.query<{ role: Role }>(
          "SELECT role FROM memberships WHERE workspace_id = $1 AND user_id = $2",
          [found.workspace_id, userId],
        );
    await sql.query(
      "UPDATE invitations SET accepted_at = now(), accepted_by = $3 WHERE workspace_id = $1 AND id = $2",
      [found.workspace_id, found.invitation_id, userId],
    );
    await writeAccountAudit(sql, {
      workspaceId: found.workspace_id,
      userId,
      action: "invitation.accept",
      target: found.invitation_id,
      details: { role: current.role, already_member: !inserted.length },
    });
    return { workspaceId: found.workspace_id, role: current.role, alreadyMember: !inserted.length };
  });
}

function notFound(): TribalError {
  return new TribalError(
    "INVITATION_NOT_FOUND",
    "No pending invitation with this token (mistyped, or revoked): ask an admin of the workspace for a new link.",
  );
}
