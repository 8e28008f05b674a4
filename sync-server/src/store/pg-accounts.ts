/**
 * Users and their login sessions in Postgres: signup, the login lookup, sessions (created,
 * verified with a sliding expiry, revoked) and what a user sees of themselves. A user's own
 * rows are read under `app.user_id` (migration 5); the lookups made before any scope is known
 * go through the SECURITY DEFINER functions `tm_login_lookup` and `tm_session_lookup`.
 */
import { randomUUID } from "node:crypto";
import { TribalError } from "@tribalmemory/shared/errors";
import type { Role } from "../auth/api-keys.ts";
import type { RelayDatabase, Sql } from "./database.ts";
import { scopeToUser, scopeToWorkspace, writeAccountAudit } from "./pg-account-audit.ts";
import { DEFAULT_REGION } from "./pg-regions.ts";

export interface UserInfo {
  id: string;
  email: string | null;
  name: string;
  created_at: string;
}

export interface WorkspaceMembership {
  id: string;
  name: string;
  role: Role;
  created_at: string;
}

/**
 * A workspace, its owner's membership and its `workspace.create` audit row, in the caller's
 * transaction (scoped to the new workspace). Signup and "new workspace" both go through here.
 */
export async function insertOwnedWorkspaceIn(
  sql: Sql,
  w: { workspaceId: string; userId: string; name: string; region?: string },
): Promise<string> {
  const [row] = await sql.query<{ created_at: Date | string }>(
    "INSERT INTO workspaces (id, name, region) VALUES ($1, $2, $3) RETURNING created_at",
    [w.workspaceId, w.name, w.region ?? DEFAULT_REGION],
  );
  await sql.query("INSERT INTO memberships (workspace_id, user_id, role) VALUES ($1, $2, 'owner')", [
    w.workspaceId,
    w.userId,
  ]);
  await writeAccountAudit(sql, {
    workspaceId: w.workspaceId,
    userId: w.userId,
    action: "workspace.create",
    target: w.workspaceId,
    details: { name: w.name },
  });
  return iso(row.created_at);
}

/**
 * A user with a password hash and, unless `workspaceName` is null, a first workspace they
 * own. An email already taken (in any spelling) is EMAIL_TAKEN: an operator-made user without
 * a password is not claimable by whoever signs up first with its email.
 */
export async function createUser(
  db: RelayDatabase,
  options: { email: string; name: string; passwordHash: string; workspaceName: string | null },
): Promise<{ user: UserInfo; workspaceId: string | null }> {
  const userId = randomUUID();
  const workspaceId = options.workspaceName === null ? null : randomUUID();
  try {
    return await db.tx(workspaceId, async (sql) => {
      await scopeToUser(sql, userId);
      const [row] = await sql.query<{ created_at: Date | string }>(
        "INSERT INTO users (id, email, name, password_hash) VALUES ($1, $2, $3, $4) RETURNING created_at",
        [userId, options.email, options.name, options.passwordHash],
      );
      if (workspaceId) {
        await insertOwnedWorkspaceIn(sql, {
          workspaceId,
          userId,
          name: options.workspaceName as string,
        });
        await writeAccountAudit(sql, {
          workspaceId,
          userId,
          action: "user.signup",
          target: userId,
        });
      }
      const user = { id: userId, email: options.email, name: options.name, created_at: iso(row.created_at) };
      return { user, workspaceId };
    });
  } catch (err) {
    if ((err as { code?: string }).code === "23505") {
      throw new TribalError(
        "EMAIL_TAKEN",
        "A user with this email already exists on this relay: log in instead.",
      );
    }
    throw err;
  }
}

/** The user id and password hash of an email (both null when no user has it). */
export async function loginLookup(
  db: RelayDatabase,
  email: string,
): Promise<{ userId: string | null; passwordHash: string | null }> {
  const [row] = await db.statement<{ user_id: string; password_hash: string | null }>(
    "SELECT user_id, password_hash FROM tm_login_lookup($1)",
    [email],
  );
  return { userId: row?.user_id ?? null, passwordHash: row?.password_hash ?? null };
}

/**
 * A new login session for a user (its token's SHA-256 stored), and a `user.login` audit row
 * in each workspace they belong to, so every workspace's admins see logins of its members.
 */
export async function createLoginSession(
  db: RelayDatabase,
  userId: string,
  tokenHash: string,
  ttlMs: number,
): Promise<{ sessionId: string; expiresAt: string }> {
  const sessionId = randomUUID();
  return db.tx(null, async (sql) => {
    await scopeToUser(sql, userId);
    const [row] = await sql.query<{ expires_at: Date | string }>(
      `INSERT INTO login_sessions (id, user_id, token_hash, expires_at)
       VALUES ($1, $2, $3, now() + make_interval(secs => $4)) RETURNING expires_at`,
      [sessionId, userId, tokenHash, ttlMs / 1000],
    );
    const workspaces = await sql.query<{ workspace_id: string }>(
      "SELECT workspace_id FROM memberships WHERE user_id = tm_user()",
    );
    for (const { workspace_id } of workspaces) {
      await scopeToWorkspace(sql, workspace_id);
      await writeAccountAudit(sql, {
        workspaceId: workspace_id,
        userId,
        action: "user.login",
        target: sessionId,
      });
    }
    return { sessionId, expiresAt: iso(row.expires_at) };
  });
}

export interface SessionLookup {
  sessionId: string;
  userId: string;
  expiresAt: string;
  revoked: boolean;
  expired: boolean;
  /** The user's role in the workspace asked about (null: none asked, or not a member). */
  role: Role | null;
}

/** A session by its token's SHA-256, its expiry slid forward when live (one round trip). */
export async function lookupLoginSession(
  db: RelayDatabase,
  tokenHash: string,
  workspaceId: string | null,
  ttlMs: number,
): Promise<SessionLookup | null> {
  const [row] = await db.statement<{
    session_id: string;
    user_id: string;
    expires_at: Date | string;
    revoked_at: Date | string | null;
    role: Role | null;
  }>(
    "SELECT session_id, user_id, expires_at, revoked_at, role FROM tm_session_lookup($1, $2, make_interval(secs => $3))",
    [tokenHash, workspaceId, ttlMs / 1000],
  );
  if (!row) return null;
  const expiresAt = iso(row.expires_at);
  return {
    sessionId: row.session_id,
    userId: row.user_id,
    expiresAt,
    revoked: row.revoked_at !== null,
    expired: new Date(expiresAt).getTime() <= Date.now(),
    role: row.role,
  };
}

/** Log a session out (revoked, kept for the record). */
export async function revokeLoginSession(
  db: RelayDatabase,
  userId: string,
  sessionId: string,
): Promise<void> {
  await db.tx(null, async (sql) => {
    await scopeToUser(sql, userId);
    await sql.query(
      "UPDATE login_sessions SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 AND user_id = $2",
      [sessionId, userId],
    );
  });
}

/** The user's own row and every workspace they belong to, with their role there. */
export async function userAndWorkspaces(
  db: RelayDatabase,
  userId: string,
): Promise<{ user: UserInfo; workspaces: WorkspaceMembership[] }> {
  return db.tx(null, async (sql) => {
    await scopeToUser(sql, userId);
    const [user] = await sql.query<{ id: string; email: string | null; name: string; created_at: Date }>(
      "SELECT id, email, name, created_at FROM users WHERE id = tm_user()",
    );
    if (!user)
      throw new TribalError("SESSION_EXPIRED", "This login session's user no longer exists: sign up again.");
    const workspaces = await workspacesOfUser(sql);
    return { user: { ...user, created_at: iso(user.created_at) }, workspaces };
  });
}

/** The workspaces of the transaction's user (`tm_user()`), oldest first. */
export async function workspacesOfUser(sql: Sql): Promise<WorkspaceMembership[]> {
  const rows = await sql.query<{ id: string; name: string; role: Role; created_at: Date }>(
    `SELECT w.id, w.name, m.role, w.created_at FROM memberships m JOIN workspaces w ON w.id = m.workspace_id
     WHERE m.user_id = tm_user() ORDER BY w.created_at, w.id`,
  );
  return rows.map((r) => ({ id: r.id, name: r.name, role: r.role, created_at: iso(r.created_at) }));
}

export function iso(v: Date | string): string {
  return v instanceof Date ? v.toISOString() : new Date(v).toISOString();
}
