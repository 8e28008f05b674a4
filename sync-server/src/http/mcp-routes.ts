import { TribalError } from "@tribalmemory/shared/errors";
import { isLoopbackHostname, parseHostHeader } from "@tribalmemory/shared/http/loopback";
import { injectedApi } from "@tribalmemory/shared/mcp/inject-api";
import { registerMcpRoute } from "@tribalmemory/shared/mcp/mcp-http";
import { createTribalMcpServer } from "@tribalmemory/shared/mcp/tribal-mcp-server";
import type { FastifyPluginAsync, FastifyRequest } from "fastify";
import type { RelayRouteContext } from "./relay-route-context.ts";

export interface McpRoutesOptions extends Pick<RelayRouteContext, "authOf" | "authorize"> {
  version: string;
}

/**
 * `/mcp` on the relay: the ten tools over Streamable HTTP for cloud agents, with the key the
 * request sends (`Authorization: Bearer tm_live_…`, checked by the same hook as /v1) acting
 * on that key's workspace; each tool calls /v1 in process with that key, so its scopes,
 * quotas and audit apply unchanged. Roots name folders on the agent's machine, which the relay
 * cannot read: a project here is the root's folder name (the daemon and stdio server use the
 * git remote). A browser page of another site may not drive the tools (403 on a foreign
 * `Origin`, as the MCP transport spec asks); without a key (`auth.enabled: false`, loopback
 * only) the `Host` must be loopback too, so a DNS-rebound name cannot reach it.
 */
export const mcpRoutes: FastifyPluginAsync<McpRoutesOptions> = async (app, options) => {
  registerMcpRoute(app, {
    // Many keys share the relay: one key's sessions past this evict its own oldest, not others'.
    maxSessionsPerOwner: 32,
    caller: (req) => {
      refuseForeignPages(req);
      const auth = options.authOf(req);
      const authorization = req.headers.authorization;
      // A login cookie is the dashboard's credential; the tools' calls carry a key, like any agent's.
      if (!authorization && auth.userId !== null) {
        throw new TribalError(
          "UNAUTHENTICATED",
          "/mcp takes an API key: send Authorization: Bearer tm_live_….",
        );
      }
      options.authorize(req, "read");
      return {
        owner: auth.keyId ?? `workspace:${auth.workspaceId}`,
        createServer: () =>
          createTribalMcpServer({
            api: injectedApi(app, authorization ? { authorization } : {}, `${req.protocol}://${req.host}`),
            version: options.version,
            files: null,
            projects: {},
          }),
      };
    },
  });
};

function refuseForeignPages(req: FastifyRequest): void {
  const host = parseHostHeader(req.headers.host ?? "");
  const origin = req.headers.origin;
  if (origin !== undefined) {
    let url: URL | null = null;
    try {
      url = new URL(origin);
    } catch {
      // "null" (sandboxed frames, file://) does not parse: refused below
    }
    // A local tool's own page (loopback, this very host and port) is the only web origin taken.
    if (!url || !isLoopbackHostname(url.hostname) || url.host !== req.headers.host) {
      throw new TribalError(
        "ORIGIN_NOT_ALLOWED",
        `Requests from web origin ${JSON.stringify(origin)} are refused at /mcp: connect an MCP client (Claude Code, Codex, an SDK), which sends no Origin.`,
      );
    }
  }
  if (req.headers.authorization === undefined && (!host || !isLoopbackHostname(host.name))) {
    throw new TribalError(
      "HOST_NOT_ALLOWED",
      `Host ${JSON.stringify(req.headers.host ?? "")} is refused at /mcp without an API key: call it as 127.0.0.1 or localhost, or send Authorization: Bearer tm_live_….`,
    );
  }
}
