/**
 * A request authenticated by the login-session cookie instead of a Bearer key. Called by the
 * relay's auth hook (relay-auth.ts) when no Authorization header is sent and the cookie is.
 *
 * - Non-GET requests must carry the session's CSRF token in `X-CSRF-Token` (the cookie alone
 *   proves nothing: a browser attaches it to requests other sites start).
 * - Account routes (`config.account`: /v1/auth/me, /v1/workspaces…, /v1/invitations…) act for
 *   the user. Every other route acts in one workspace, named by `X-Tribal-Workspace`, with
 *   the scopes of the user's role there.
 * - The sync WebSocket takes API keys only: a daemon has one, and a socket cannot be closed
 *   by a membership change the way a key's is by its revocation.
 */
import { TribalError } from "@tribalmemory/shared/errors";
import type { FastifyRequest } from "fastify";
import { csrfMatches, csrfTokenOf, hashToken, SESSION_TTL_MS } from "../accounts/session-token.ts";
import { type AuthContext, roleScopes } from "../auth/api-keys.ts";
import type { RelayDatabase } from "../store/database.ts";
import { lookupLoginSession } from "../store/pg-accounts.ts";

/** The login session a request came with. */
export interface AccountSession {
  userId: string;
  sessionId: string;
  csrfToken: string;
  expiresAt: string;
}

declare module "fastify" {
  interface FastifyRequest {
    /** The login session of a cookie-authenticated request (null with a Bearer key). */
    account: AccountSession | null;
  }
  interface FastifyContextConfig {
    /** The route acts for the logged-in user, not in one workspace: no `X-Tribal-Workspace` needed. */
    account?: boolean;
  }
}

export const WORKSPACE_HEADER = "x-tribal-workspace";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

export async function authenticateSession(
  db: RelayDatabase,
  req: FastifyRequest,
  token: string,
): Promise<{ account: AccountSession; auth: AuthContext | null }> {
  if (req.headers.upgrade) {
    throw new TribalError(
      "UNAUTHENTICATED",
      "The sync socket needs an API key (`Authorization: Bearer tm_live_…`), not a login session.",
    );
  }
  const accountRoute = req.routeOptions.config?.account === true;
  const header = req.headers[WORKSPACE_HEADER];
  const workspaceId = accountRoute || typeof header !== "string" ? null : header.trim().toLowerCase();
  if (workspaceId !== null && !UUID.test(workspaceId)) throw workspaceNotFound(workspaceId);
  const session = await lookupLoginSession(db, hashToken(token), workspaceId, SESSION_TTL_MS);
  if (!session || session.revoked || session.expired) {
    throw new TribalError(
      "SESSION_EXPIRED",
      "This login session expired or was logged out: log in again (POST /v1/auth/login).",
    );
  }
  if (!SAFE_METHODS.has(req.method) && !csrfMatches(token, headerValue(req.headers["x-csrf-token"]))) {
    throw new TribalError(
      "CSRF_TOKEN_INVALID",
      "A request with the session cookie must send the session's `X-CSRF-Token` header (from GET /v1/auth/me).",
    );
  }
  const account = {
    userId: session.userId,
    sessionId: session.sessionId,
    csrfToken: csrfTokenOf(token),
    expiresAt: session.expiresAt,
  };
  if (accountRoute) return { account, auth: null };
  if (workspaceId === null) {
    throw new TribalError(
      "WORKSPACE_HEADER_REQUIRED",
      "With a login session, name the workspace: send `X-Tribal-Workspace: <workspace id>` (GET /v1/workspaces lists yours).",
    );
  }
  if (!session.role) throw workspaceNotFound(workspaceId);
  const auth: AuthContext = {
    keyId: null,
    userId: session.userId,
    workspaceId,
    scopes: roleScopes(session.role),
    role: session.role,
  };
  return { account, auth };
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

export function workspaceNotFound(workspaceId: string): TribalError {
  return new TribalError(
    "WORKSPACE_NOT_FOUND",
    `No workspace ${workspaceId} that you are a member of: GET /v1/workspaces lists yours.`,
  );
}
