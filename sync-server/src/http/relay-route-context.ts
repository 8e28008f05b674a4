import type { Authorize } from "@tribalmemory/shared/http/route-schemas";
import type { FastifyRequest } from "fastify";
import type { AuthContext } from "../auth/api-keys.ts";
import type { RelayDatabase } from "../store/database.ts";
import type { PgMemoryStore } from "../store/pg-store.ts";

/** What the relay's route plugins are given by the composition root (server.ts `startRelay`). */
export interface RelayRouteContext {
  db: RelayDatabase;
  /** The key the request authenticated with (the relay's onRequest hook), or UNAUTHENTICATED. */
  authOf(req: FastifyRequest): AuthContext;
  /** Throws FORBIDDEN when the request's key lacks the scope. */
  authorize: Authorize;
  /** The workspace's store, opened once per process. */
  workspace(workspaceId: string): Promise<{ store: PgMemoryStore }>;
}
