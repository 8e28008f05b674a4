import { TribalError } from "@tribalmemory/shared/errors";
import { registerEntityRoutes } from "@tribalmemory/shared/http/entity-routes";
import { registerMemoryRoutes } from "@tribalmemory/shared/http/memory-routes";
import { requireScope } from "@tribalmemory/shared/http/route-schemas";
import { recallAcrossSources, registerSessionRoutes } from "@tribalmemory/shared/http/session-routes";
import type { MemoryService } from "@tribalmemory/shared/service/memory-service";
import type { SessionService } from "@tribalmemory/shared/sessions/session-service";
import type { FastifyPluginAsync, FastifyRequest } from "fastify";
import { devicesByActor } from "../store/pg-accounting.ts";
import type { PgMemoryStore } from "../store/pg-store.ts";
import type { RelayRouteContext } from "./relay-route-context.ts";

/** How a memory's history names the changes the relay wrote for HTTP API requests. */
export const RELAY_API_DEVICE = "relay (HTTP API)";

export interface WorkspaceApiOptions extends Pick<RelayRouteContext, "authOf" | "authorize" | "db"> {
  version: string;
  workspace(workspaceId: string): Promise<{ service: MemoryService; store: PgMemoryStore }>;
  /** The workspace's session transcripts, bound to the request's device (relay-sessions.ts). */
  sessionsFor(req: FastifyRequest): SessionService;
}

/**
 * The /v1 memory, entity and session API written once in shared/src/http, served per workspace
 * (the request's key names it), with what only the relay adds: `GET /v1/workspace` names the
 * key's workspace, and `?purge=true` (admin) removes a memory from every replica.
 */
export const workspaceApi: FastifyPluginAsync<WorkspaceApiOptions> = async (app, options) => {
  const { authOf, authorize } = options;
  const serviceFor = async (req: FastifyRequest) =>
    (await options.workspace(authOf(req).workspaceId)).service;

  registerMemoryRoutes(app, {
    version: options.version,
    serviceFor,
    authorize,
    // The relay's health is public and names no workspace (health-routes.ts); GET /v1/workspace does.
    health: false,
    // sources = sessions | all: the session chunks daemons sent, on the same score scale.
    recallSessions: recallAcrossSources(options.sessionsFor),
    purge: async (req, _reply, id) => {
      authorize(req, "admin");
      const { store } = await options.workspace(authOf(req).workspaceId);
      if (!(await store.purge(id.toLowerCase())))
        throw new TribalError("MEMORY_NOT_FOUND", `No memory ${id}.`);
      return { success: true, memory_id: id.toLowerCase(), purged: true };
    },
    // A history's actors by the sync device that reported each (the devices table); the
    // relay's own actor wrote what came through this HTTP API.
    deviceNames: async (req, actors, service) => {
      const names = await devicesByActor(options.db, authOf(req).workspaceId, actors);
      if (!names.has(service.actor)) names.set(service.actor, RELAY_API_DEVICE);
      return names;
    },
  });

  // What `tribalmemory init --cloud` and clients ask to learn where a key points.
  app.get("/v1/workspace", requireScope(authorize, "read"), async (req) => {
    const auth = authOf(req);
    return {
      relay: true,
      version: options.version,
      workspace_id: auth.workspaceId,
      scopes: auth.scopes,
      // https when TLS ends here, or when the trusted proxy says so (X-Forwarded-Proto).
      protocol: req.protocol,
    };
  });

  // The workspace's entity index (GET /v1/entities, /v1/entities/:name/memories, /v1/graph).
  registerEntityRoutes(app, { serviceFor, authorize });

  registerSessionRoutes(app, { sessionsFor: options.sessionsFor, authorize });
};
