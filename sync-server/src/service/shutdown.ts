import type { FastifyInstance } from "fastify";
import type { Logger } from "pino";
import type { SyncHub } from "../sync/sync-hub.ts";

/** How long a drain may take before the sockets and connections left are cut (default). */
export const DEFAULT_SHUTDOWN_DEADLINE_MS = 10_000;

export interface DrainDeps {
  app: FastifyInstance;
  hub: SyncHub;
  log: Logger;
  deadlineMs: number;
}

/**
 * The relay's graceful stop, up to the point where the database may close. Readiness already
 * answers 503 (the caller set draining first). Then, at once and side by side:
 *
 * - HTTP: the listener closes (no new connections); requests in flight finish, and a request
 *   that still arrives on a kept-alive connection is answered with `Connection: close`.
 * - Sync: each socket handles the messages it has received (pushes ingested and acked), then
 *   gets close code 1001; its daemon reconnects to another process and re-pushes the rest.
 *
 * At the deadline whatever is still open is terminated, and the log says how many.
 */
export async function drainRelay(deps: DrainDeps): Promise<void> {
  const { app, hub, log, deadlineMs } = deps;
  const started = performance.now();
  log.info(
    { sockets: hub.sessionCount(), deadline_ms: deadlineMs },
    "relay draining: not ready, finishing in-flight requests and sync pushes",
  );
  let terminated = 0;
  const deadline = setTimeout(() => {
    terminated = hub.close();
    app.server.closeAllConnections();
    log.warn({ terminated, deadline_ms: deadlineMs }, "drain deadline passed: open connections terminated");
  }, deadlineMs);
  try {
    const [sockets] = await Promise.all([hub.drain(), app.close()]);
    log.info(
      {
        sockets_closed: sockets - terminated,
        sockets_terminated: terminated,
        ms: Math.round(performance.now() - started),
      },
      "relay drained",
    );
  } finally {
    clearTimeout(deadline);
    hub.close();
  }
}
