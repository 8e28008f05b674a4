import { requireScope } from "@tribalmemory/shared/http/route-schemas";
import type { FastifyPluginAsync } from "fastify";
import { usagePeriods } from "../store/pg-accounting.ts";
import type { RelayRouteContext } from "./relay-route-context.ts";

/** `GET /v1/usage`: the workspace's size and this month's metered queries, writes and embeds. */
export const usageRoutes: FastifyPluginAsync<RelayRouteContext> = async (app, options) => {
  const { db, authOf } = options;
  app.get("/v1/usage", requireScope(options.authorize, "read"), async (req) => {
    const auth = authOf(req);
    const { store } = await options.workspace(auth.workspaceId);
    const stats = await store.stats();
    const periods = await usagePeriods(db, auth.workspaceId);
    const period = new Date().toISOString().slice(0, 7);
    const current = periods.find((p) => p.period === period) ?? { period, queries: 0, writes: 0, embeds: 0 };
    return {
      workspace_id: auth.workspaceId,
      period,
      memories: stats.total_memories,
      storage_bytes: stats.storage_bytes,
      queries: current.queries,
      writes: current.writes,
      embeds: current.embeds,
      periods,
    };
  });
};
