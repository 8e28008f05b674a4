/**
 * The relay's plans, per workspace, as data (the spec's table). A limit of `null` is unlimited.
 * Enterprise has no limits of its own: each enterprise workspace stores its own
 * (`workspaces.custom_limits`, migration 6), and an unset one is unlimited.
 *
 * What is counted against each limit:
 * - memories: live memories of the workspace (not deleted, not a merged duplicate), as
 *   `GET /v1/stats` counts them. Only a write creating a memory id the workspace does not
 *   have is refused; updates and deletes of existing memories never are.
 * - queries: recalls (`/v1/recall`) in the calendar month (UTC), as `/v1/usage` meters them.
 * - agents: distinct writers in the calendar month (UTC): a sync device id that pushed, or the
 *   `source_instance` a memory written through the HTTP API names (body or
 *   `X-Tribal-Source-Instance`; a write naming none is the API key's own and is no agent). A
 *   writer new this month past the limit is refused.
 */
export const PLAN_IDS = ["free", "pro", "team", "enterprise"] as const;
export type PlanId = (typeof PLAN_IDS)[number];

export interface PlanLimits {
  memories: number | null;
  queries_per_month: number | null;
  agents: number | null;
}

export interface Plan {
  id: PlanId;
  name: string;
  limits: PlanLimits;
  /** Bought through the billing provider (a price per plan in `billing.stripe.prices`). */
  self_serve: boolean;
}

export const PLANS: Record<PlanId, Plan> = {
  free: {
    id: "free",
    name: "Free",
    limits: { memories: 1_000, queries_per_month: 10_000, agents: 3 },
    self_serve: false,
  },
  pro: {
    id: "pro",
    name: "Pro",
    limits: { memories: 50_000, queries_per_month: null, agents: 10 },
    self_serve: true,
  },
  team: {
    id: "team",
    name: "Team",
    limits: { memories: 250_000, queries_per_month: null, agents: null },
    self_serve: true,
  },
  enterprise: {
    id: "enterprise",
    name: "Enterprise",
    limits: { memories: null, queries_per_month: null, agents: null },
    self_serve: false,
  },
};

/** Plans a workspace can buy itself (checkout). */
export type SelfServePlan = "pro" | "team";

export function isPlanId(value: string): value is PlanId {
  return (PLAN_IDS as readonly string[]).includes(value);
}

/** A workspace's limits: its plan's, or for Enterprise the ones stored for it. */
export function limitsOf(plan: PlanId, custom: Partial<PlanLimits> | null): PlanLimits {
  if (plan !== "enterprise") return PLANS[plan].limits;
  return {
    memories: custom?.memories ?? null,
    queries_per_month: custom?.queries_per_month ?? null,
    agents: custom?.agents ?? null,
  };
}

/** The metering period of a time: its calendar month in UTC (`2026-12`), as `usage.period`. */
export function periodOf(at: Date): string {
  return at.toISOString().slice(0, 7);
}

/** When the period of `at` ends: the first instant of the next month, UTC. */
export function nextPeriodStart(at: Date): Date {
  return new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + 1, 1));
}

/** What a refusal tells the user to do. */
export function upgradeHint(plan: PlanId): string {
  if (plan === "free") return "Upgrade to Pro or Team (POST /v1/billing/checkout, or ask the relay's admin)";
  if (plan === "pro") return "Upgrade to Team (POST /v1/billing/checkout, or ask the relay's admin)";
  return "Ask the relay's admin to raise the workspace's limits (tribalmemory relay plan)";
}
