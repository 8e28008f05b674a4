import { TribalError } from "@tribalmemory/shared/errors";
import type { FastifyPluginAsync } from "fastify";
import type { ReadinessCheck } from "../service/readiness.ts";

export interface HealthRoutesOptions {
  version: string;
  /** When this relay started (ms since the epoch): uptime is the relay's, not the process's. */
  startedAt: number;
  readiness: ReadinessCheck;
}

/**
 * Liveness and readiness, for orchestrators and load balancers: no API key (`config.public`),
 * and nothing about any workspace. `GET /v1/workspace` (workspace-api.ts) is the keyed route
 * that names the key's workspace.
 *
 * - `GET /v1/health`: the process answers (liveness). It touches no database, so a database
 *   outage makes the relay unready, not dead: restarting it would not help.
 * - `GET /v1/ready`: send traffic here. 503 NOT_READY while the database does not answer, its
 *   schema lacks a migration this build expects, or the relay is shutting down.
 */
export const healthRoutes: FastifyPluginAsync<HealthRoutesOptions> = async (app, options) => {
  const public_ = { config: { public: true } };
  app.get("/v1/health", public_, async () => ({
    status: "ok",
    relay: true,
    version: options.version,
    uptime_s: Math.round((Date.now() - options.startedAt) / 1000),
  }));

  app.get("/v1/ready", public_, async () => {
    const r = await options.readiness.check();
    if (!r.ready) {
      throw new TribalError("NOT_READY", `This relay is not ready: ${r.reasons.join("; ")}.`, {
        reasons: r.reasons,
        ...(r.missingMigrations.length ? { missing_migrations: r.missingMigrations } : {}),
      });
    }
    return { status: "ready", version: options.version };
  });
};
