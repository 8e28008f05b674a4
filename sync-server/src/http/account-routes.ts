/**
 * `/v1/auth/signup`, `/login`, `/logout`, `/me`: a person's account and login session. The
 * session token travels only in an HttpOnly cookie; `me` (and signup/login) answer the CSRF
 * token a page sends back in `X-CSRF-Token` on every non-GET request.
 */

import { TribalError } from "@tribalmemory/shared/errors";
import type { ZodTypeProvider } from "@tribalmemory/shared/http/route-schemas";
import type { FastifyPluginAsync, FastifyReply } from "fastify";
import { z } from "zod";
import {
  dummy,
  hashPassword,
  PASSWORD_MAX_LENGTH,
  PASSWORD_MIN_LENGTH,
  verifyPassword,
} from "../accounts/password.ts";
import {
  csrfTokenOf,
  hashToken,
  newToken,
  SESSION_TTL_MS,
  sessionCookie,
  sessionTokenFrom,
} from "../accounts/session-token.ts";
import { type AuthThrottle, clientAddress } from "../auth/auth-throttle.ts";
import type { RelayDatabase } from "../store/database.ts";
import {
  createLoginSession,
  createUser,
  loginLookup,
  lookupLoginSession,
  revokeLoginSession,
  userAndWorkspaces,
} from "../store/pg-accounts.ts";
import { sessionOf } from "./account-actor.ts";

/** Lower-cased and trimmed: one account per address, however it is typed. */
export const Email = z
  .string()
  .trim()
  .toLowerCase()
  .max(254)
  .regex(/^[^\s@]+@[^\s@]+\.[^\s@]+$/, "must be an email address");
const Password = z.string().max(PASSWORD_MAX_LENGTH);

const SignupBody = z.strictObject({
  email: Email,
  password: Password.min(PASSWORD_MIN_LENGTH, `must be at least ${PASSWORD_MIN_LENGTH} characters`),
  name: z.string().trim().min(1).max(200).optional(),
  /** false: no first workspace (the user will accept an invitation instead). */
  workspace: z.boolean().default(true),
  workspace_name: z.string().trim().min(1).max(200).optional(),
});
const LoginBody = z.strictObject({ email: Email, password: Password.min(1) });

export interface AccountRoutesOptions {
  db: RelayDatabase;
  /** The relay's failed-authentication throttle: failed logins count like bad keys. */
  throttle: AuthThrottle;
  behindProxy: boolean;
  /** `Secure` cookies: the relay serves TLS or sits behind a TLS proxy. */
  secureCookies: boolean;
}

export const accountRoutes: FastifyPluginAsync<AccountRoutesOptions> = async (fastify, options) => {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const { db, throttle } = options;
  // The dummy hash an unknown email is checked against, made now rather than at the first one.
  void dummy();

  /** A new login session for `userId`, its cookie set on the reply. */
  const startSession = async (reply: FastifyReply, userId: string) => {
    const token = newToken();
    const { expiresAt } = await createLoginSession(db, userId, hashToken(token), SESSION_TTL_MS);
    reply.header("set-cookie", sessionCookie(token, { secure: options.secureCookies }));
    return { csrf_token: csrfTokenOf(token), expires_at: expiresAt };
  };

  app.post(
    "/v1/auth/signup",
    { schema: { body: SignupBody }, config: { public: true } },
    async (req, reply) => {
      const body = req.body;
      const { user, workspaceId } = await createUser(db, {
        email: body.email,
        name: body.name ?? body.email.split("@")[0],
        passwordHash: await hashPassword(body.password),
        workspaceName: body.workspace ? (body.workspace_name ?? "default") : null,
      });
      const session = await startSession(reply, user.id);
      reply.status(201);
      return {
        user,
        workspace: workspaceId
          ? { id: workspaceId, name: body.workspace_name ?? "default", role: "owner" }
          : null,
        ...session,
      };
    },
  );

  app.post(
    "/v1/auth/login",
    { schema: { body: LoginBody }, config: { public: true } },
    async (req, reply) => {
      const address = clientAddress(req.raw, options.behindProxy);
      const wait = throttle.retryAfter(address);
      if (wait !== null) {
        reply.header("retry-after", String(wait));
        throw new TribalError(
          "AUTH_RATE_LIMITED",
          `Too many failed logins from this address; retry in ${wait} s.`,
          { retry_after_s: wait },
        );
      }
      const found = await loginLookup(db, req.body.email);
      // Checked against a dummy hash when there is no user: an unknown email takes as long.
      const ok = await verifyPassword(req.body.password, found.passwordHash);
      if (!ok || !found.userId) {
        throttle.fail(address);
        throw new TribalError("INVALID_CREDENTIALS", "Wrong email or password.");
      }
      const session = await startSession(reply, found.userId);
      const { user, workspaces } = await userAndWorkspaces(db, found.userId);
      return { user, workspaces, ...session };
    },
  );

  app.post("/v1/auth/logout", { config: { account: true } }, async (req, reply) => {
    const session = sessionOf(req);
    await revokeLoginSession(db, session.userId, session.sessionId);
    reply.header("set-cookie", sessionCookie(null, { secure: options.secureCookies }));
    return { logged_out: true };
  });

  // The dashboard asks on every load whether it has a session: 200 either way (a logged-out
  // visit is no failure), and `me`'s fields when it has one. The token is 256 random bits.
  app.get("/v1/auth/session", { config: { public: true } }, async (req) => {
    const token = sessionTokenFrom(req.headers.cookie);
    const session = token ? await lookupLoginSession(db, hashToken(token), null, SESSION_TTL_MS) : null;
    if (!token || !session || session.revoked || session.expired) return { authenticated: false };
    const { user, workspaces } = await userAndWorkspaces(db, session.userId);
    return {
      authenticated: true,
      user,
      workspaces,
      csrf_token: csrfTokenOf(token),
      expires_at: session.expiresAt,
    };
  });

  app.get("/v1/auth/me", { config: { account: true } }, async (req, reply) => {
    const session = sessionOf(req);
    // The server slides the session's expiry on use; the cookie's Max-Age slides with it here.
    const token = sessionTokenFrom(req.headers.cookie);
    if (token) reply.header("set-cookie", sessionCookie(token, { secure: options.secureCookies }));
    const { user, workspaces } = await userAndWorkspaces(db, session.userId);
    return { user, workspaces, csrf_token: session.csrfToken, expires_at: session.expiresAt };
  });
};
