import type { IncomingHttpHeaders } from "node:http";
import { localTokenMatches } from "@tribalmemory/shared/config/local-token";
import { TribalError } from "@tribalmemory/shared/errors";
import { isLoopbackHostname, parseHostHeader } from "@tribalmemory/shared/http/loopback";
import type { FastifyInstance } from "fastify";

/**
 * Who may call the localhost daemon. The attacker is a web page in the user's browser: it can
 * send simple requests (GET, text/plain POST) to 127.0.0.1 with no preflight, and by DNS
 * rebinding make its own name resolve to 127.0.0.1 and read the answers. So: the `Host` must be
 * loopback or configured (rebinding carries the attacker's name), a foreign `Origin` is refused
 * on every route, and routes that stop the daemon or move every memory need the local token,
 * which a page cannot read. Off loopback every route needs it. (Body media types are checked
 * where bodies are parsed, in shared/src/http/server-basics.ts.)
 */
export interface LocalGuardPolicy {
  /** The port the daemon listens on, known once it listens. */
  port: () => number;
  /** The address it listens on; a literal non-wildcard address is an allowed Host too. */
  bindHost: string;
  /** Extra Host names: `name` (any port) or `name:port`. */
  allowedHosts: readonly string[];
  /** Extra web origins, e.g. `https://console.example`. */
  allowedOrigins: readonly string[];
  token: string;
  /** Named in the refusal, so the caller knows where the token is. */
  tokenPath: string;
  /** Every route needs the token (listening off loopback, or `server.require_token`). */
  tokenEverywhere: boolean;
}

/** Routes that need the token even on loopback: they stop the daemon or move every memory at once. */
const TOKEN_ROUTES = new Set(["POST /v1/shutdown", "GET /v1/export", "POST /v1/export", "POST /v1/import"]);

export interface GuardedRequest {
  method: string;
  /** The matched route's pattern (`/v1/memories/:id`); undefined when no route matched. */
  routeUrl: string | undefined;
  headers: IncomingHttpHeaders;
}

/** Null when the request may proceed, else the error to answer with. */
export function checkLocalRequest(req: GuardedRequest, policy: LocalGuardPolicy): TribalError | null {
  const host = one(req.headers.host);
  if (host === undefined || !hostAllowed(host, policy)) {
    return new TribalError(
      "HOST_NOT_ALLOWED",
      `Host ${JSON.stringify(host ?? "")} is not this daemon's. Call it as 127.0.0.1 or localhost, ` +
        "or add the name to server.allowed_hosts in config.yaml.",
    );
  }
  const origin = one(req.headers.origin);
  if (origin !== undefined) {
    if (!originAllowed(origin, policy)) {
      return new TribalError(
        "ORIGIN_NOT_ALLOWED",
        `Requests from web origin ${JSON.stringify(origin)} are refused. ` +
          "Add a trusted origin to server.allowed_origins in config.yaml.",
      );
    }
  } else {
    // A browser's no-cors GET (an <img> or <script> tag) carries no Origin, but says it is cross-site.
    const site = one(req.headers["sec-fetch-site"]);
    if (site === "cross-site" || site === "same-site") {
      return new TribalError("ORIGIN_NOT_ALLOWED", "Requests from other web sites are refused.");
    }
  }
  const method = req.method === "HEAD" ? "GET" : req.method;
  if (policy.tokenEverywhere || TOKEN_ROUTES.has(`${method} ${req.routeUrl}`)) {
    const presented = presentedToken(req.headers);
    if (presented === null || !localTokenMatches(policy.token, presented)) {
      return new TribalError(
        "LOCAL_TOKEN_REQUIRED",
        `${presented === null ? "This route needs the" : "Wrong"} local token: send "Authorization: Bearer <token>" ` +
          `or "X-Tribal-Token: <token>" with the contents of ${policy.tokenPath} ` +
          "(the tribalmemory CLI and MCP server send it themselves).",
      );
    }
  }
  return null;
}

/** One onRequest hook, before any body is read or any route runs. */
export function installLocalGuard(app: FastifyInstance, policy: LocalGuardPolicy): void {
  app.addHook("onRequest", async (req) => {
    const refused = checkLocalRequest(
      { method: req.method, routeUrl: req.routeOptions.url, headers: req.headers },
      policy,
    );
    if (refused) throw refused;
  });
}

function hostAllowed(header: string, policy: LocalGuardPolicy): boolean {
  const host = parseHostHeader(header);
  if (!host) return false;
  if (isLoopbackHostname(host.name)) return true;
  const bind = policy.bindHost.toLowerCase().replace(/^\[(.*)\]$/, "$1");
  if (host.name === bind && bind !== "0.0.0.0" && bind !== "::") return true;
  return policy.allowedHosts.some((entry) => {
    const allowed = parseHostHeader(entry);
    return (
      allowed !== null && allowed.name === host.name && (allowed.port === null || allowed.port === host.port)
    );
  });
}

function originAllowed(origin: string, policy: LocalGuardPolicy): boolean {
  let url: URL;
  try {
    url = new URL(origin); // "null" (sandboxed frames, file://) does not parse: refused
  } catch {
    return false;
  }
  if (policy.allowedOrigins.some((o) => sameOrigin(o, url))) return true;
  const port = Number(url.port || (url.protocol === "https:" ? 443 : 80));
  return url.protocol === "http:" && isLoopbackHostname(url.hostname) && port === policy.port();
}

function sameOrigin(configured: string, url: URL): boolean {
  try {
    return new URL(configured).origin === url.origin;
  } catch {
    return false;
  }
}

function presentedToken(headers: IncomingHttpHeaders): string | null {
  const header = one(headers["x-tribal-token"]);
  if (header) return header.trim();
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(one(headers.authorization) ?? "");
  return bearer ? bearer[1] : null;
}

function one(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}
