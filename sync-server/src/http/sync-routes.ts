import { TribalError } from "@tribalmemory/shared/errors";
import { requireScope, type ZodTypeProvider } from "@tribalmemory/shared/http/route-schemas";
import {
  MAX_SYNC_MESSAGE_BYTES,
  PullBody,
  PushBody,
  type WireChange,
} from "@tribalmemory/shared/sync/protocol";
import type { FastifyPluginAsync } from "fastify";
import type { AuthContext } from "../auth/api-keys.ts";
import type { IngestOutcome } from "../store/pg-store.ts";
import type { RelayRouteContext } from "./relay-route-context.ts";

export interface SyncRoutesOptions extends RelayRouteContext {
  /** The same ingest the WebSocket's push uses (audit, backfill and wake included). */
  ingest(auth: AuthContext, changes: WireChange[], device: string | null): Promise<IngestOutcome>;
  /** A device's pull cursor, so the relay knows how far each device has read. */
  recordCursor(workspaceId: string, device: string, cursor: number): Promise<void>;
}

/** `POST /v1/sync/push` and `/v1/sync/pull`: the sync protocol over plain HTTP, for clients without a socket. */
export const syncRoutes: FastifyPluginAsync<SyncRoutesOptions> = async (fastify, options) => {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const { authOf } = options;

  const pushOptions = {
    bodyLimit: MAX_SYNC_MESSAGE_BYTES,
    schema: { body: PushBody },
    ...requireScope(options.authorize, "write"),
  };
  app.post("/v1/sync/push", pushOptions, async (req) => {
    const outcome = await options.ingest(authOf(req), req.body.changes, req.body.device);
    if (outcome.error) {
      throw new TribalError(outcome.error.code, outcome.error.message, {
        ...outcome.error.details,
        accepted: outcome.results,
      });
    }
    return { results: outcome.results, head: outcome.head };
  });

  app.post(
    "/v1/sync/pull",
    { schema: { body: PullBody }, ...requireScope(options.authorize, "read") },
    async (req) => {
      const auth = authOf(req);
      const { store } = await options.workspace(auth.workspaceId);
      const page = await store.readLog(req.body.cursor, req.body.limit);
      if (req.body.device) await options.recordCursor(auth.workspaceId, req.body.device, page.cursor);
      return page;
    },
  );
};
