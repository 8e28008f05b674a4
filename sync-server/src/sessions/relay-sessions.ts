import { validate } from "@tribalmemory/shared/http/validate";
import type { EmbedderInfo } from "@tribalmemory/shared/service/memory-service";
import { WriteQueue } from "@tribalmemory/shared/service/write-queue";
import type { SessionIngestBody } from "@tribalmemory/shared/sessions/schemas";
import { type SessionIngestOutcome, SessionService } from "@tribalmemory/shared/sessions/session-service";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { z } from "zod";
import type { RelayDatabase } from "../store/database.ts";
import { PgSessionStore } from "../store/pg-session-store.ts";

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
 * What every session service of one relay database shares in this process: the embedder, and
 * one write queue per workspace, so an HTTP ingest and a socket's `session_push` of the same
 * workspace never re-chunk one session at the same time.
 */
interface RelaySessionContext {
  embedder: EmbedderInfo | null;
  queues: Map<string, WriteQueue>;
}

// Keyed by the database because the sync hub is built before (and apart from) the routes.
const contexts = new WeakMap<RelayDatabase, RelaySessionContext>();

function contextOf(db: RelayDatabase): RelaySessionContext {
  let c = contexts.get(db);
  if (!c) {
    c = { embedder: null, queues: new Map() };
    contexts.set(db, c);
  }
  return c;
}

/**
 * The session service of one workspace, recording `device` on the messages it stores (its
 * own session stream leaves them out). Used by the HTTP routes and the sync hub alike.
 */
export function relaySessionService(
  db: RelayDatabase,
  workspaceId: string,
  device: string | null,
): SessionService {
  const context = contextOf(db);
  let shared = context.queues.get(workspaceId);
  if (!shared) {
    shared = new WriteQueue();
    context.queues.set(workspaceId, shared);
  }
  return new RelaySessionService({
    store: new PgSessionStore(db, workspaceId, { device }),
    embedder: () => context.embedder,
    instanceId: "relay",
    // The relay keeps what daemons send; each daemon applies its own retention.
    retentionDays: 0,
    shared,
  });
}

/**
 * Session transcripts on the relay: `/v1/sessions/{ingest,search,stats}` come from the shared
 * routes (registered by the caller with `sessionsFor`); this adds `GET /v1/sessions/messages`,
 * the pull of messages other devices sent, after a cursor the caller keeps. Daemons share
 * sessions over the sync socket (sync-hub.ts); these routes serve agents that call them directly.
 */
export function createRelaySessions(options: {
  app: FastifyInstance;
  db: RelayDatabase;
  embedder: EmbedderInfo | null;
  workspaceOf: (req: FastifyRequest) => string;
  authorize: (req: FastifyRequest, scope: "read" | "write" | "admin") => void;
}): RelaySessions {
  const { app, db } = options;
  contextOf(db).embedder = options.embedder;
  const deviceOf = (req: FastifyRequest): string | null => {
    const h = req.headers[DEVICE_HEADER];
    return typeof h === "string" && h.trim() ? h.trim().slice(0, 200) : null;
  };
  const sessionsFor = (req: FastifyRequest): SessionService =>
    relaySessionService(db, options.workspaceOf(req), deviceOf(req));

  app.get("/v1/sessions/messages", async (req) => {
    options.authorize(req, "read");
    const q = validate(MessagesQuery, req.query, "query");
    const store = new PgSessionStore(db, options.workspaceOf(req));
    return store.readLog(q.after, q.limit, q.device ?? deviceOf(req));
  });

  return { sessionsFor };
}
