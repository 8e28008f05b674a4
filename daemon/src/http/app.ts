import { TribalError } from "@tribalmemory/shared/errors";
import { BODY_LIMITS } from "@tribalmemory/shared/http/body-limits";
import { registerContextRoutes } from "@tribalmemory/shared/http/context-routes";
import { registerDashboard } from "@tribalmemory/shared/http/dashboard-static";
import { registerEntityRoutes } from "@tribalmemory/shared/http/entity-routes";
import { registerMemoryRoutes } from "@tribalmemory/shared/http/memory-routes";
import { answerFrameworkError, installServerBasics } from "@tribalmemory/shared/http/server-basics";
import { recallAcrossSources, registerSessionRoutes } from "@tribalmemory/shared/http/session-routes";
import type { MemoryService } from "@tribalmemory/shared/service/memory-service";
import Fastify, { type FastifyInstance } from "fastify";
import type { Logger } from "pino";
import type { DaemonSessions } from "../sessions/daemon-sessions.ts";
import { SqliteMemoryStore } from "../store/sqlite-store.ts";
import { installLocalGuard, type LocalGuardPolicy } from "./local-guard.ts";
import { registerDaemonMcp } from "./mcp-route.ts";

export interface DaemonAppOptions {
  service: MemoryService;
  version: string;
  logger: Logger;
  healthExtras: () => Record<string, unknown>;
  sessions: DaemonSessions;
  onShutdown: () => void;
  /** Host, Origin and local-token checks for every request. */
  guard: LocalGuardPolicy;
}

/** How a memory's history names the daemon's own changes. */
export const THIS_DEVICE = "this device";

export function buildDaemonApp(options: DaemonAppOptions): FastifyInstance {
  const app = Fastify({
    logger: false,
    bodyLimit: BODY_LIMITS.default,
    frameworkErrors: answerFrameworkError,
  });
  installServerBasics(app, options.logger);
  installLocalGuard(app, options.guard);
  registerMemoryRoutes(app, {
    serviceFor: () => options.service,
    version: options.version,
    healthExtras: options.healthExtras,
    recallSessions: recallAcrossSources(() => options.sessions.service),
    purge: (_req, _reply, id) => purgeOnThisMachine(options.service, id.toLowerCase()),
    // The daemon knows one actor: its own. Others' changes arrived by sync (the relay names them).
    deviceNames: async (_req, _actors, service) => new Map([[service.actor, THIS_DEVICE]]),
  });
  registerEntityRoutes(app, { serviceFor: () => options.service });
  registerSessionRoutes(app, {
    sessionsFor: () => options.sessions.service,
    statsExtras: options.sessions.statsExtras,
  });
  registerContextRoutes(app, {
    serviceFor: () => options.service,
    sessionsFor: () => options.sessions.service,
  });
  // The same tools as tribalmemory-mcp, over Streamable HTTP at /mcp (mcp-route.ts).
  registerDaemonMcp(app, { guard: options.guard, version: options.version });
  // The web dashboard at /, for the local store; the guard above refuses other sites' pages.
  registerDashboard(app, { source: "daemon" });
  // TribalMemory's local shutdown route; the guard asks for the local token here.
  app.post("/v1/shutdown", async () => {
    setTimeout(options.onShutdown, 50);
    return { status: "shutting_down" };
  });
  return app;
}

/**
 * `DELETE /v1/memories/:id?purge=true` on the daemon: the memory leaves every file of the data
 * folder before the answer. Only for a memory the relay never received: a synced one lives on
 * in other replicas, and their later changes would name a document this one no longer has —
 * the relay's purge (admin key) removes it everywhere, this machine included.
 */
async function purgeOnThisMachine(service: MemoryService, id: string) {
  const store = service.store;
  if (!(store instanceof SqliteMemoryStore)) throw new TribalError("INTERNAL", "This store cannot purge.");
  return service.writeBeside(async () => {
    if (!(await store.get(id))) throw new TribalError("MEMORY_NOT_FOUND", `No memory ${id}.`);
    if (store.hasLeftThisMachine(id)) {
      throw new TribalError(
        "PURGE_ON_RELAY",
        `Memory ${id} was synced: purge it on the relay (DELETE /v1/memories/${id}?purge=true with an admin key), which removes it from every machine, this one included.`,
        { memory_id: id },
      );
    }
    await store.purge(id);
    return { value: { success: true, memory_id: id, purged: true }, touchedIds: [id] };
  });
}
