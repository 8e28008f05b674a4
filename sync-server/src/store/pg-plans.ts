import type { PlanId, PlanLimits } from "../plans/plans.ts";
import type { RelayDatabase, Sql } from "./database.ts";

/**
 * A workspace's plan, its history, its agents and its invoices (migration 6). Functions named
 * `…In` take the caller's transaction, so a webhook applies an event and remembers its id in
 * one commit.
 */

export interface QuotaState {
  plan: PlanId;
  custom_limits: Partial<PlanLimits> | null;
  /** Recalls metered in the period. */
  queries: number;
  /** Distinct writers in the period. */
  agents: number;
}

/** Plan and this period's recalls and agents: one statement, one round trip (tm_quota_state). */
export async function readQuotaState(
  db: RelayDatabase,
  workspaceId: string,
  period: string,
): Promise<QuotaState> {
  const [row] = await db.statement<QuotaState & { queries: string | number }>(
    "SELECT plan, custom_limits, queries, agents FROM tm_quota_state($1, $2)",
    [workspaceId, period],
  );
  if (!row) return { plan: "free", custom_limits: null, queries: 0, agents: 0 };
  return { ...row, queries: Number(row.queries) };
}

/**
 * The plan, Enterprise limits and live memory count (the triggers' counter), in the caller's
 * transaction (the ingest's, which holds the workspace row). A counter not kept yet is counted
 * and stored here, once.
 */
export async function readMemoryQuotaIn(
  sql: Sql,
  workspaceId: string,
): Promise<{ plan: PlanId; custom_limits: Partial<PlanLimits> | null; live: number }> {
  const [row] = await sql.query<{
    plan: PlanId;
    custom_limits: Partial<PlanLimits> | null;
    live: string | number | null;
  }>("SELECT plan, custom_limits, live_memories AS live FROM workspaces WHERE id = $1", [workspaceId]);
  if (!row) return { plan: "free", custom_limits: null, live: 0 };
  const live = row.live === null ? await recountLiveMemoriesIn(sql, workspaceId) : Number(row.live);
  return { plan: row.plan, custom_limits: row.custom_limits, live };
}

/** Live memories as `stats()` counts them, stored as the workspace's counter (which it repairs). */
export async function recountLiveMemoriesIn(sql: Sql, workspaceId: string): Promise<number> {
  const [r] = await sql.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM memories WHERE workspace_id = $1 AND NOT deleted AND duplicate_of IS NULL",
    [workspaceId],
  );
  await sql.query("UPDATE workspaces SET live_memories = $2 WHERE id = $1", [workspaceId, r.n]);
  return r.n;
}

/** Count a writer in the period; a new one past `limit` is not admitted (tm_admit_agent). */
export async function admitAgent(
  db: RelayDatabase,
  workspaceId: string,
  a: { period: string; agent: string; kind: "device" | "instance"; limit: number | null },
): Promise<{ admitted: boolean; agents: number }> {
  const [row] = await db.statement<{ admitted: boolean; agents: number }>(
    "SELECT admitted, agents FROM tm_admit_agent($1, $2, $3, $4, $5)",
    [workspaceId, a.period, a.agent, a.kind, a.limit],
  );
  return row;
}

export interface AgentRow {
  id: string;
  kind: string;
  first_seen_at: string;
}

/** The period's agents, first seen first (500 at most; tm_quota_state counts them all). */
export async function listAgents(
  db: RelayDatabase,
  workspaceId: string,
  period: string,
): Promise<AgentRow[]> {
  return db.tx(workspaceId, (sql) =>
    sql.query<AgentRow>(
      `SELECT agent AS id, kind, to_char(first_seen_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS first_seen_at
       FROM agents WHERE workspace_id = $1 AND period = $2 ORDER BY first_seen_at, agent LIMIT 500`,
      [workspaceId, period],
    ),
  );
}

export interface WorkspacePlanRow {
  plan: PlanId;
  custom_limits: Partial<PlanLimits> | null;
  billing_customer_id: string | null;
  billing_subscription_id: string | null;
}

export async function readWorkspacePlan(
  db: RelayDatabase,
  workspaceId: string,
): Promise<WorkspacePlanRow | null> {
  const [row] = await db.tx(workspaceId, (sql) =>
    sql.query<WorkspacePlanRow>(
      "SELECT plan, custom_limits, billing_customer_id, billing_subscription_id FROM workspaces WHERE id = $1",
      [workspaceId],
    ),
  );
  return row ?? null;
}

export interface PlanChange {
  plan: PlanId;
  /** Enterprise limits; ignored (cleared) for the other plans. */
  customLimits?: Partial<PlanLimits> | null;
  source: "admin" | "stripe" | (string & {});
  /** The provider's subscription or event id, the admin's note. */
  reference?: string | null;
}

/**
 * Set the plan under the workspace row's lock and add its history row. Null when the
 * workspace does not exist; `from` is the plan it had. The same plan again (a provider
 * repeating itself) changes nothing and writes no history, except Enterprise, whose limits may.
 */
export async function setPlanIn(
  sql: Sql,
  workspaceId: string,
  change: PlanChange,
): Promise<{ from: PlanId; to: PlanId; changed: boolean } | null> {
  const [old] = await sql.query<{ plan: PlanId }>("SELECT plan FROM workspaces WHERE id = $1 FOR UPDATE", [
    workspaceId,
  ]);
  if (!old) return null;
  if (old.plan === change.plan && change.plan !== "enterprise")
    return { from: old.plan, to: change.plan, changed: false };
  const limits = change.plan === "enterprise" ? (change.customLimits ?? null) : null;
  const limitsJson = limits ? JSON.stringify(limits) : null;
  await sql.query("UPDATE workspaces SET plan = $2, custom_limits = $3::jsonb WHERE id = $1", [
    workspaceId,
    change.plan,
    limitsJson,
  ]);
  await sql.query(
    "INSERT INTO plan_history (workspace_id, plan, from_plan, custom_limits, source, reference) VALUES ($1, $2, $3, $4::jsonb, $5, $6)",
    [workspaceId, change.plan, old.plan, limitsJson, change.source, change.reference ?? null],
  );
  // Its audit row is written by trigger on plan_history (migration 7), on every path.
  return { from: old.plan, to: change.plan, changed: true };
}

export function setPlan(db: RelayDatabase, workspaceId: string, change: PlanChange) {
  return db.tx(workspaceId, (sql) => setPlanIn(sql, workspaceId, change));
}

export interface PlanHistoryRow {
  plan: PlanId;
  from: PlanId | null;
  custom_limits: Partial<PlanLimits> | null;
  source: string;
  reference: string | null;
  at: string;
}

export async function planHistory(db: RelayDatabase, workspaceId: string): Promise<PlanHistoryRow[]> {
  return db.tx(workspaceId, (sql) =>
    sql.query<PlanHistoryRow>(
      `SELECT plan, from_plan AS "from", custom_limits, source, reference,
         to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at
       FROM plan_history WHERE workspace_id = $1 ORDER BY id DESC LIMIT 100`,
      [workspaceId],
    ),
  );
}

// ------------------------------------------------------------ billing

/** The workspace's customer at the provider, and the lookup a webhook finds it by. */
export async function linkCustomerIn(
  sql: Sql,
  workspaceId: string,
  provider: string,
  customerId: string,
  subscriptionId: string | null,
): Promise<void> {
  await sql.query(
    "UPDATE workspaces SET billing_customer_id = $2, billing_subscription_id = coalesce($3, billing_subscription_id) WHERE id = $1",
    [workspaceId, customerId, subscriptionId],
  );
  await sql.query(
    "INSERT INTO billing_customers (provider, customer_id, workspace_id) VALUES ($1, $2, $3) ON CONFLICT (provider, customer_id) DO UPDATE SET workspace_id = EXCLUDED.workspace_id",
    [provider, customerId, workspaceId],
  );
}

/** A subscription ended: the workspace keeps its customer, loses the subscription id. */
export async function clearSubscriptionIn(sql: Sql, workspaceId: string): Promise<void> {
  await sql.query("UPDATE workspaces SET billing_subscription_id = NULL WHERE id = $1", [workspaceId]);
}

/** The workspace a provider's customer pays for (no row-level security: read before the workspace is known). */
export async function workspaceOfCustomer(
  db: RelayDatabase,
  provider: string,
  customerId: string,
): Promise<string | null> {
  const [row] = await db.statement<{ workspace_id: string }>(
    "SELECT workspace_id FROM billing_customers WHERE provider = $1 AND customer_id = $2",
    [provider, customerId],
  );
  return row?.workspace_id ?? null;
}

/** Whether the workspace exists (a checkout's client_reference_id names it). */
export async function workspaceExists(db: RelayDatabase, workspaceId: string): Promise<boolean> {
  const rows = await db.tx(workspaceId, (sql) =>
    sql.query("SELECT 1 FROM workspaces WHERE id = $1", [workspaceId]),
  );
  return rows.length > 0;
}

/**
 * Remember a webhook event id; false when it was already handled (the provider retries and
 * may deliver an event twice). In the transaction that applies it, so a failed apply is retried.
 */
export async function claimBillingEventIn(
  sql: Sql,
  provider: string,
  eventId: string,
  type: string,
): Promise<boolean> {
  const rows = await sql.query(
    "INSERT INTO billing_events (provider, event_id, type) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING 1",
    [provider, eventId, type],
  );
  return rows.length > 0;
}

export interface InvoiceRow {
  provider: string;
  provider_id: string;
  /** Minor units (cents). */
  amount: number;
  currency: string;
  status: string;
  period_start: string | null;
  period_end: string | null;
  hosted_url: string | null;
}

export async function upsertInvoiceIn(sql: Sql, workspaceId: string, inv: InvoiceRow): Promise<void> {
  await sql.query(
    `INSERT INTO invoices (workspace_id, provider, provider_id, amount, currency, status, period_start, period_end, hosted_url)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
     ON CONFLICT (workspace_id, provider, provider_id) DO UPDATE SET amount = EXCLUDED.amount,
       currency = EXCLUDED.currency, status = EXCLUDED.status, period_start = EXCLUDED.period_start,
       period_end = EXCLUDED.period_end, hosted_url = EXCLUDED.hosted_url, updated_at = now()`,
    [
      workspaceId,
      inv.provider,
      inv.provider_id,
      inv.amount,
      inv.currency,
      inv.status,
      inv.period_start,
      inv.period_end,
      inv.hosted_url,
    ],
  );
}

export async function listInvoices(db: RelayDatabase, workspaceId: string): Promise<InvoiceRow[]> {
  const rows = await db.tx(workspaceId, (sql) =>
    sql.query<InvoiceRow & { amount: string | number }>(
      `SELECT provider, provider_id, amount, currency, status,
         to_char(period_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS period_start,
         to_char(period_end AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS period_end, hosted_url
       FROM invoices WHERE workspace_id = $1 ORDER BY created_at DESC, provider_id LIMIT 100`,
      [workspaceId],
    ),
  );
  return rows.map((r) => ({ ...r, amount: Number(r.amount) }));
}
