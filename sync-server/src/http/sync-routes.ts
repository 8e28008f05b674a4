import { TribalError } from "@tribalmemory/shared/errors";
import { requireScope, type ZodTypeProvider } from "@tribalmemory/shared/http/route-schemas";
import type { MemoryService } from "@tribalmemory/shared/service/memory-service";
import { MAX_SYNC_MESSAGE_BYTES, type WireChange } from "@tribalmemory/shared/sync/protocol";
import {
  applySimplePush,
  isSimplePull,
  isSimplePush,
  type SimplePullBody,
  type SimplePushBody,
  SyncPullRequest,
  SyncPushRequest,
  simpleEntitiesOf,
} from "@tribalmemory/shared/sync/simple-sync";
import type { FastifyPluginAsync } from "fastify";
import type { AuthContext } from "../auth/api-keys.ts";
import type { IngestOutcome } from "../store/pg-store.ts";
import type { RelayRouteContext } from "./relay-route-context.ts";
import { recordRequest } from "./request-record.ts";

export interface SyncRoutesOptions extends RelayRouteContext {
  /** The same ingest the WebSocket's push uses (audit, backfill and wake included). */
  ingest(auth: AuthContext, changes: WireChange[], device: string | null): Promise<IngestOutcome>;
  /** A device's pull cursor, so the relay knows how far each device has read. */
  recordCursor(workspaceId: string, device: string, cursor: number): Promise<void>;
  /** The workspace's memory service: the simple form's pushes are its ordinary writes. */
  service(workspaceId: string): Promise<MemoryService>;
}

/**
 * `POST /v1/sync/push` and `/v1/sync/pull`: the sync protocol over plain HTTP, for clients
 * without a socket, in two forms told apart by their keys: Automerge changes
 * (`{device, changes}` / `{cursor}`, what daemons send) and the spec's simple form
 * (`{since, memories, entities}` / `{since}`, shared/src/sync/simple-sync.ts).
 */
export const syncRoutes: FastifyPluginAsync<SyncRoutesOptions> = async (fastify, options) => {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const { authOf } = options;

  const pushOptions = {
    bodyLimit: MAX_SYNC_MESSAGE_BYTES,
    schema: { body: SyncPushRequest },
    ...requireScope(options.authorize, "write"),
  };
  app.post("/v1/sync/push", pushOptions, async (req) => {
    const auth = authOf(req);
    if (isSimplePush(req.body)) return simplePush(auth, req.body);
    const outcome = await options.ingest(auth, req.body.changes, req.body.device);
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
    { schema: { body: SyncPullRequest }, ...requireScope(options.authorize, "read") },
    async (req) => {
      const auth = authOf(req);
      if (isSimplePull(req.body)) return simplePull(auth, req.body);
      const { store } = await options.workspace(auth.workspaceId);
      const page = await store.readLog(req.body.cursor, req.body.limit);
      if (req.body.device) await options.recordCursor(auth.workspaceId, req.body.device, page.cursor);
      return page;
    },
  );

  /** Memories become ordinary writes of the workspace's service; the answer has the log's head. */
  async function simplePush(auth: AuthContext, body: SimplePushBody) {
    const service = await options.service(auth.workspaceId);
    const results = await applySimplePush(service, body);
    const written = results.filter((r) => r.status !== "unchanged" && r.status !== "duplicate").length;
    if (written) {
      await recordRequest(
        options.db,
        auth,
        { action: "sync.push", target: null, details: { form: "simple", written, received: results.length } },
        { field: "writes", n: written },
      );
    }
    const { store } = await options.workspace(auth.workspaceId);
    return { results, cursor: await store.head(), entities_ignored: body.entities?.length ?? 0 };
  }

  /** The memories changed after `since` in the log, each once, as they are now. */
  async function simplePull(auth: AuthContext, body: SimplePullBody) {
    const { store } = await options.workspace(auth.workspaceId);
    const since = body.since ?? 0;
    const page = await store.readLog(since, body.limit);
    const ids = [...new Set(page.entries.filter((e) => e.kind === "change").map((e) => e.doc_id))];
    const purged = [...new Set(page.entries.filter((e) => e.kind === "purge").map((e) => e.doc_id))];
    const memories = (await store.getMany(ids)).filter((m) => !purged.includes(m.id));
    return {
      memories,
      entities: simpleEntitiesOf(memories),
      purged,
      since,
      cursor: page.cursor,
      more: page.more,
    };
  }
};
