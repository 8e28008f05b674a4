import { requireScope, type ZodTypeProvider } from "@tribalmemory/shared/http/route-schemas";
import type { FastifyPluginAsync } from "fastify";
import { z } from "zod";
import { limitsOf, nextPeriodStart, PLAN_IDS, PLANS, periodOf } from "../plans/plans.ts";
import { usagePeriods } from "../store/pg-accounting.ts";
import { listAgents, readQuotaState } from "../store/pg-plans.ts";
import { recordSizeOfToday, usageDays } from "../store/pg-usage-days.ts";
import type { RelayRouteContext } from "./relay-route-context.ts";

const UsageQuery = z.strictObject({
  /** A calendar month (UTC), `YYYY-MM`; default the current one. */
  period: z
    .string()
    .regex(/^\d{4}-(0[1-9]|1[0-2])$/, "must be a month, YYYY-MM")
    .optional(),
  /** How many days of history (UTC, up to today) the `days` series holds. */
  days: z.coerce.number().int().min(1).max(366).default(30),
});

/** What `agents` counts, said in the answer so a client need not guess. */
const AGENT_DEFINITION =
  "Distinct writers in the period: each sync device id that pushed, and each source_instance named by a memory written through the HTTP API.";

/**
 * `GET /v1/usage`: the workspace's size and a period's metered queries, writes (HTTP and sync)
 * and embeds, its agents, and the plan's limit beside each (null: unlimited); `days`, the last
 * `?days=` (default 30) UTC days of the same, oldest first. `GET /v1/plans`:
 * the plans a workspace can have.
 */
export const usageRoutes: FastifyPluginAsync<RelayRouteContext> = async (fastify, options) => {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const { db, authOf } = options;
  app.get(
    "/v1/usage",
    { schema: { querystring: UsageQuery }, ...requireScope(options.authorize, "read") },
    async (req) => {
      const auth = authOf(req);
      const now = new Date();
      const period = req.query.period ?? periodOf(now);
      const { store } = await options.workspace(auth.workspaceId);
      const stats = await store.stats();
      const periods = await usagePeriods(db, auth.workspaceId);
      const state = await readQuotaState(db, auth.workspaceId, period);
      const limits = limitsOf(state.plan, state.custom_limits);
      const agents = await listAgents(db, auth.workspaceId, period);
      // Today's size is recorded before the series is read, so today's point shows it (the
      // agents counted are this month's only when the period asked for is this month).
      if (period === periodOf(now)) {
        await recordSizeOfToday(db, auth.workspaceId, {
          memories: stats.total_memories,
          storageBytes: stats.storage_bytes,
          agents: state.agents,
        });
      }
      const days = await usageDays(db, auth.workspaceId, req.query.days);
      const current = periods.find((p) => p.period === period) ?? {
        period,
        queries: 0,
        writes: 0,
        embeds: 0,
      };
      return {
        workspace_id: auth.workspaceId,
        period,
        resets_at: nextPeriodStart(new Date(`${period}-01T00:00:00Z`)).toISOString(),
        plan: state.plan,
        memories: stats.total_memories,
        storage_bytes: stats.storage_bytes,
        queries: current.queries,
        writes: current.writes,
        embeds: current.embeds,
        limits: {
          memories: limits.memories,
          queries: limits.queries_per_month,
          agents: limits.agents,
          writes: null,
          embeds: null,
          storage_bytes: null,
        },
        agents: {
          count: state.agents,
          limit: limits.agents,
          list: agents,
          definition: AGENT_DEFINITION,
        },
        periods,
        days,
      };
    },
  );

  // Public: what each plan allows is no secret, and a sign-up page shows it before any key exists.
  app.get("/v1/plans", { config: { public: true } }, async () => ({
    plans: PLAN_IDS.map((id) => PLANS[id]),
    period: "calendar month, UTC",
    agent_definition: AGENT_DEFINITION,
  }));
};
