import type { IncomingMessage } from "node:http";
import { TribalError } from "@tribalmemory/shared/errors";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { sessionTokenFrom } from "../accounts/session-token.ts";
import { type AuthContext, hasScope, type Scope } from "../auth/api-keys.ts";
import { type AuthThrottle, clientAddress } from "../auth/auth-throttle.ts";
import type { RelayDatabase } from "../store/database.ts";
import { verifyApiKey } from "../store/pg-keys.ts";
import { authenticateSession } from "./session-auth.ts";

declare module "fastify" {
  interface FastifyRequest {
    auth: AuthContext | null;
  }
  interface FastifyContextConfig {
    /**
     * The route needs no API key (liveness, signup, login, a payment provider's webhook): the
     * auth hook skips it, and the route itself says who may call it.
     */
    public?: boolean;
  }
}

export interface RelayAuth {
  /** The request's key, or UNAUTHENTICATED. */
  authOf(req: FastifyRequest): AuthContext;
  /** Throws FORBIDDEN when the request's key lacks the scope. */
  authorize(req: FastifyRequest, scope: Scope): void;
}

/**
 * Every /v1 request, the sync WebSocket's upgrade included, names an API key: verified in the
 * onRequest hook before any body is read, with failed attempts throttled per client address
 * (429 AUTH_RATE_LIMITED with Retry-After, to good keys too, so a scanner learns nothing).
 */
export function installRelayAuth(
  app: FastifyInstance,
  deps: {
    db: RelayDatabase;
    throttle: AuthThrottle;
    behindProxy: boolean;
    /**
     * `auth.enabled: false` (single tenant, loopback only): a request without an
     * `Authorization` header acts as this key. A request that sends a key is still checked.
     */
    anonymous?: AuthContext | null;
  },
): RelayAuth {
  const { db, throttle, behindProxy, anonymous } = deps;
  app.decorateRequest("auth", null);
  app.decorateRequest("account", null);
  app.addHook("onRequest", async (req, reply) => {
    // /mcp (mcp-routes.ts) takes the same keys as /v1: its tools call /v1 with them.
    const keyed = req.url.startsWith("/v1/") || req.url === "/mcp" || req.url.startsWith("/mcp?");
    if (!keyed || req.routeOptions.config?.public) return;
    if (anonymous && req.headers.authorization === undefined) {
      req.auth = anonymous;
      return;
    }
    const address = clientAddress(req.raw, behindProxy);
    const wait = throttle.retryAfter(address);
    if (wait !== null) return rateLimited(reply, wait);
    try {
      const key = bearer(req.headers.authorization);
      // No key and a login-session cookie: the user's session (session-auth.ts).
      const session = key === null ? sessionTokenFrom(req.headers.cookie) : null;
      if (session) Object.assign(req, await authenticateSession(db, req, session));
      else req.auth = await verifyApiKey(db, key);
    } catch (err) {
      if (isFailedAuth(err, req.raw)) throttle.fail(address);
      throw err;
    }
  });
  const authOf = (req: FastifyRequest): AuthContext => {
    if (!req.auth) throw new TribalError("UNAUTHENTICATED", "Send `Authorization: Bearer tm_live_…`.");
    return req.auth;
  };
  const authorize = (req: FastifyRequest, scope: Scope) => {
    const auth = authOf(req);
    if (!hasScope(auth.scopes, scope)) {
      throw new TribalError(
        "FORBIDDEN",
        auth.role
          ? `Your role in this workspace (${auth.role}) lacks the \`${scope}\` scope: ask an admin.`
          : `This API key lacks the \`${scope}\` scope (it has ${auth.scopes.join(", ")}).`,
      );
    }
  };
  return { authOf, authorize };
}

function bearer(header: string | undefined): string | null {
  if (!header) return null;
  const m = /^Bearer\s+(\S+)$/i.exec(header.trim());
  return m ? m[1] : null;
}

function rateLimited(reply: FastifyReply, retryAfterS: number): FastifyReply {
  const err = new TribalError(
    "AUTH_RATE_LIMITED",
    `Too many failed authentications from this address; retry in ${retryAfterS} s with a valid API key.`,
    { retry_after_s: retryAfterS },
  );
  return reply.code(err.status).header("retry-after", String(retryAfterS)).send(err.toJSON());
}

/** A credential was presented and refused: what the throttle counts (a bare probe is not a guess). */
function isFailedAuth(err: unknown, req: IncomingMessage): boolean {
  return (
    req.headers.authorization !== undefined &&
    err instanceof TribalError &&
    (err.code === "UNAUTHENTICATED" || err.code === "API_KEY_REVOKED")
  );
}
