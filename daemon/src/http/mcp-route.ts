import { gitRemoteOf } from "@tribalmemory/shared/mcp/git-remote";
import { injectedApi } from "@tribalmemory/shared/mcp/inject-api";
import { registerMcpRoute } from "@tribalmemory/shared/mcp/mcp-http";
import { createTribalMcpServer } from "@tribalmemory/shared/mcp/tribal-mcp-server";
import type { FastifyInstance } from "fastify";
import { checkLocalRequest, type LocalGuardPolicy } from "./local-guard.ts";

/**
 * `/mcp` on the daemon: the ten tools over Streamable HTTP, for agents that connect by URL
 * instead of spawning `tribalmemory-mcp`. The app's local guard has already refused foreign
 * Host and Origin headers (DNS rebinding, other sites' pages); here the local token is needed
 * too, even on loopback, because the tools include export and import, which need it on /v1 —
 * `tribalmemory init --mcp http` writes it into the client's entry as a Bearer header.
 * Roots name folders on this machine, so a project is the root's git remote where it has one.
 */
export function registerDaemonMcp(
  app: FastifyInstance,
  options: { guard: LocalGuardPolicy; version: string },
): void {
  const { guard } = options;
  registerMcpRoute(app, {
    caller: (req) => {
      const refused = checkLocalRequest(
        { method: req.method, routeUrl: req.routeOptions.url, headers: req.headers },
        { ...guard, tokenEverywhere: true },
      );
      if (refused) throw refused;
      return {
        owner: "local-token",
        createServer: () =>
          createTribalMcpServer({
            api: injectedApi(app, { "x-tribal-token": guard.token }, `http://127.0.0.1:${guard.port()}`),
            version: options.version,
            files: null,
            projects: { gitRemoteOf },
          }),
      };
    },
  });
}
