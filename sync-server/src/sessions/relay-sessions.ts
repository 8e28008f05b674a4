import { validate } from "@tribalmemory/shared/http/validate";
import type { EmbedderInfo } from "@tribalmemory/shared/service/memory-service";
import { WriteQueue } from "@tribalmemory/shared/service/write-queue";
import type { SessionIngestBody } from "@tribalmemory/shared/sessions/schemas";
import { type SessionIngestOutcome, SessionService } from "@tribalmemory/shared/sessions/session-service";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { z } from "zod";
import type { RelayDatabase } from "../store/database.ts";
import { PgSessionStore } from "./pg-session-store.ts";

/** The header a daemon names itself with, so its own messages are not pulled back. */
export const DEVICE_HEADER = "x-tribal-device";

const MessagesQuery = z.strictObject({
  after: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(1000).default(500),
  device: z.string().trim().min(1).max(200).optional(),
});

/**
 * A session service bound to one request's device. Ingests of one workspace are serialised
 * (the open chunk is read, re-chunked and replaced as one step) by a queue shared by every
 * request of that workspace in this process.
 */
class RelaySessionService extends SessionService {
  private readonly shared: WriteQueue;

  constructor(options: ConstructorParameters<typeof SessionService>[0] & { shared: WriteQueue }) {
    super(options);
    this.shared = options.shared;
  }

  override ingest(body: SessionIngestBody): Promise<SessionIngestOutcome> {
    return this.shared.run(() => super.ingest(body));
  }
}

export interface RelaySessions {
  /** For `registerSessionRoutes`: the workspace's service, bound to the request's device. */
  sessionsFor(req: FastifyRequest): SessionService;
}

/**
 * Session transcripts on the relay: `/v1/sessions/{ingest,search,stats}` come from the shared
 * routes (registered by the caller with `sessionsFor`); this adds `GET /v1/sessions/messages`,
 * the pull of messages other devices sent, after a per-device cursor the daemon keeps.
 */
export function createRelaySessions(options: {
  app: FastifyInstance;
  db: RelayDatabase;
  embedder: EmbedderInfo | null;
  workspaceOf: (req: FastifyRequest) => string;
  authorize: (req: FastifyRequest, scope: "read" | "write" | "admin") => void;
}): RelaySessions {
  const { app, db, embedder } = options;
  const queues = new Map<string, WriteQueue>();
  const deviceOf = (req: FastifyRequest): string | null => {
    const h = req.headers[DEVICE_HEADER];
    return typeof h === "string" && h.trim() ? h.trim().slice(0, 200) : null;
  };
  const sessionsFor = (req: FastifyRequest): SessionService => {
    const workspaceId = options.workspaceOf(req);
    let shared = queues.get(workspaceId);
    if (!shared) {
      shared = new WriteQueue();
      queues.set(workspaceId, shared);
    }
    return new RelaySessionService({
      store: new PgSessionStore(db, workspaceId, { device: deviceOf(req) }),
      embedder: () => embedder,
      instanceId: "relay",
      // The relay keeps what daemons send; each daemon applies its own retention.
      retentionDays: 0,
      shared,
    });
  };

  app.get("/v1/sessions/messages", async (req) => {
    options.authorize(req, "read");
    const q = validate(MessagesQuery, req.query, "query");
    const store = new PgSessionStore(db, options.workspaceOf(req));
    return store.readLog(q.after, q.limit, q.device ?? deviceOf(req));
  });

  return { sessionsFor };
}
