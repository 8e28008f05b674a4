import { registerContextRoutes } from "@tribalmemory/shared/http/context-routes";
import { registerEntityRoutes } from "@tribalmemory/shared/http/entity-routes";
import { registerMemoryRoutes } from "@tribalmemory/shared/http/memory-routes";
import { installServerBasics } from "@tribalmemory/shared/http/server-basics";
import { recallAcrossSources, registerSessionRoutes } from "@tribalmemory/shared/http/session-routes";
import type { MemoryService } from "@tribalmemory/shared/service/memory-service";
import Fastify, { type FastifyInstance } from "fastify";
import type { Logger } from "pino";
import type { DaemonSessions } from "../sessions/daemon-sessions.ts";
import { installLocalGuard, type LocalGuardPolicy } from "./local-guard.ts";

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

export function buildDaemonApp(options: DaemonAppOptions): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: 256 * 1024 * 1024 });
  installServerBasics(app, options.logger);
  installLocalGuard(app, options.guard);
  registerMemoryRoutes(app, {
    serviceFor: () => options.service,
    version: options.version,
    healthExtras: options.healthExtras,
    recallSessions: recallAcrossSources(() => options.sessions.service),
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
  // TribalMemory's local shutdown route; the guard asks for the local token here.
  app.post("/v1/shutdown", async () => {
    setTimeout(options.onShutdown, 50);
    return { status: "shutting_down" };
  });
  return app;
}
