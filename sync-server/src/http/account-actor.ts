/**
 * Who an account route acts for. A login session acts as its user, with their role in the
 * workspace at hand; an admin API key of that very workspace may act on it as an admin (its
 * creator, when known, is the user recorded). Anything else is refused before the handler.
 */
import { TribalError } from "@tribalmemory/shared/errors";
import type { FastifyRequest } from "fastify";
import { hasScope, type Role } from "../auth/api-keys.ts";
import type { RelayDatabase } from "../store/database.ts";
import { memberRole, type WorkspaceActor } from "../store/pg-workspaces.ts";
import { type AccountSession, workspaceNotFound } from "./session-auth.ts";

const RANK: Record<Role, number> = { viewer: 0, member: 1, admin: 2, owner: 3 };

/** The request's login session, or SESSION_REQUIRED (an API key cannot act as a person here). */
export function sessionOf(req: FastifyRequest): AccountSession {
  if (!req.account) {
    throw new TribalError(
      "SESSION_REQUIRED",
      "This route acts for a logged-in user: log in (POST /v1/auth/login) and send the session cookie.",
    );
  }
  return req.account;
}

/**
 * The caller's standing in `workspaceId`, which must be at least `needed`. With a session:
 * their membership (WORKSPACE_NOT_FOUND when none, so ids of others' workspaces leak nothing).
 * With a key: an admin key of this workspace counts as `admin`, unless `sessionOnly`.
 */
export async function workspaceActor(
  db: RelayDatabase,
  req: FastifyRequest,
  workspaceId: string,
  needed: Role,
  options: { sessionOnly?: boolean } = {},
): Promise<WorkspaceActor> {
  if (req.account) {
    const role = await memberRole(db, workspaceId, req.account.userId);
    if (!role) throw workspaceNotFound(workspaceId);
    if (RANK[role] < RANK[needed]) {
      throw new TribalError(
        "ROLE_FORBIDDEN",
        `This needs the ${needed} role in the workspace; yours is ${role}. Ask an owner.`,
        { role, needed },
      );
    }
    return { userId: req.account.userId, keyId: null, role };
  }
  const auth = req.auth;
  if (!auth || options.sessionOnly) {
    throw new TribalError(
      "SESSION_REQUIRED",
      "This acts for a logged-in member of the workspace: log in (POST /v1/auth/login) and send the session cookie.",
    );
  }
  if (auth.workspaceId !== workspaceId) throw workspaceNotFound(workspaceId);
  if (!hasScope(auth.scopes, "admin") || RANK[needed] > RANK.admin) {
    throw new TribalError(
      "FORBIDDEN",
      RANK[needed] > RANK.admin
        ? `This needs the ${needed} role: log in as an owner of the workspace (an API key is at most admin).`
        : "This needs an admin API key of the workspace, or a login session of one of its admins.",
    );
  }
  return { userId: auth.userId, keyId: auth.keyId, role: "admin" };
}
