import type { WebSocket } from "@fastify/websocket";
import { TribalError } from "@tribalmemory/shared/errors";
import { type Authorize, requireScope } from "@tribalmemory/shared/http/route-schemas";
import type { FastifyPluginAsync, FastifyRequest, RouteOptions } from "fastify";
import type { AuthContext } from "../auth/api-keys.ts";

export interface SyncSocketOptions {
  authOf(req: FastifyRequest): AuthContext;
  authorize: Authorize;
  /** The hub takes the socket over (sync-hub.ts). */
  accept(socket: WebSocket, auth: AuthContext): void;
}

/**
 * `GET /v1/sync` upgraded to a WebSocket (@fastify/websocket, registered before this plugin):
 * the upgrade passes the relay's onRequest hook like any request — API key, failed-auth
 * throttle with its 429 and Retry-After — and needs a key with read scope.
 */
export const syncSocket: FastifyPluginAsync<SyncSocketOptions> = async (app, options) => {
  // Declared through a cast: @fastify/websocket's augmentation of fastify's route types does not
  // resolve under pnpm (fastify is not its peer); at run time its onRoute hook takes `wsHandler`.
  const route = {
    method: "GET",
    url: "/v1/sync",
    ...requireScope(options.authorize, "read"),
    wsHandler: (socket: WebSocket, req: FastifyRequest) => options.accept(socket, options.authOf(req)),
    // A plain GET gets the coded 404 it had before the route existed, not an empty one.
    handler: () => {
      throw new TribalError("ROUTE_NOT_FOUND", "Sync at /v1/sync is a WebSocket: send an Upgrade request.");
    },
  };
  app.route(route as unknown as RouteOptions);
};
