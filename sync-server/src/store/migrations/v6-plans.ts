/**
 * Migration 6: plans, quotas and billing (sync-server/src/plans/plans.ts says what each plan
 * allows).
 *
 * - `workspaces.plan` (default 'free') and `custom_limits` (Enterprise: `{memories,
 *   queries_per_month, agents}`, an absent one unlimited); the billing provider's customer and
 *   subscription of the workspace.
 * - `plan_history`: every plan change, who made it (`source`: admin, stripe, …) and from what.
 * - `invoices`: the provider's invoices as data (id, amount in minor units, currency, status,
 *   period, hosted page), upserted by id as their status changes.
 * - `agents`: the distinct writers of a workspace per month (a sync device id, or a memory's
 *   source_instance written through the HTTP API), counted against the plan's agent limit.
 * - `billing_customers` and `billing_events` have no row-level security, like `api_key_lookup`:
 *   a webhook arrives with no API key, so its workspace is found from the provider's customer
 *   id, and an event id is remembered before its workspace is known (idempotency). They hold
 *   ids and event types, no data.
 * - `tm_quota_state` reads a workspace's plan and this month's recalls and agents in one
 *   statement; `tm_admit_agent` counts a writer, refusing a new one past the limit (an advisory
 *   lock per workspace makes two new writers at once take turns).
 */
export const V6_PLANS = `
ALTER TABLE workspaces ADD COLUMN plan text NOT NULL DEFAULT 'free'
  CHECK (plan IN ('free', 'pro', 'team', 'enterprise'));
ALTER TABLE workspaces ADD COLUMN custom_limits jsonb;
ALTER TABLE workspaces ADD COLUMN billing_customer_id text;
ALTER TABLE workspaces ADD COLUMN billing_subscription_id text;

CREATE TABLE plan_history (
  id bigserial PRIMARY KEY,
  workspace_id uuid NOT NULL REFERENCES workspaces ON DELETE CASCADE,
  plan text NOT NULL,
  from_plan text,
  custom_limits jsonb,
  source text NOT NULL,
  reference text,
  at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX plan_history_ws ON plan_history (workspace_id, id);

CREATE TABLE invoices (
  workspace_id uuid NOT NULL REFERENCES workspaces ON DELETE CASCADE,
  provider text NOT NULL,
  provider_id text NOT NULL,
  amount bigint NOT NULL,
  currency text NOT NULL,
  status text NOT NULL,
  period_start timestamptz,
  period_end timestamptz,
  hosted_url text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (workspace_id, provider, provider_id)
);
CREATE INDEX invoices_ws_created ON invoices (workspace_id, created_at DESC);

CREATE TABLE agents (
  workspace_id uuid NOT NULL REFERENCES workspaces ON DELETE CASCADE,
  period text NOT NULL,
  agent text NOT NULL,
  kind text NOT NULL,
  first_seen_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (workspace_id, period, agent)
);

CREATE TABLE billing_customers (
  provider text NOT NULL,
  customer_id text NOT NULL,
  workspace_id uuid NOT NULL REFERENCES workspaces ON DELETE CASCADE,
  PRIMARY KEY (provider, customer_id)
);

CREATE TABLE billing_events (
  provider text NOT NULL,
  event_id text NOT NULL,
  type text NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (provider, event_id)
);

${["plan_history", "invoices", "agents"]
  .map(
    (t) => `ALTER TABLE ${t} ENABLE ROW LEVEL SECURITY;
ALTER TABLE ${t} FORCE ROW LEVEL SECURITY;
CREATE POLICY ${t}_scope ON ${t} USING (workspace_id = tm_workspace()) WITH CHECK (workspace_id = tm_workspace());`,
  )
  .join("\n")}

CREATE OR REPLACE FUNCTION tm_quota_state(p_workspace uuid, p_period text)
RETURNS TABLE (plan text, custom_limits jsonb, queries bigint, agents int)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  PERFORM set_config('app.workspace_id', p_workspace::text, true);
  RETURN QUERY SELECT w.plan, w.custom_limits,
    coalesce((SELECT u.queries FROM usage u WHERE u.workspace_id = p_workspace AND u.period = p_period), 0)::bigint,
    (SELECT count(*) FROM agents a WHERE a.workspace_id = p_workspace AND a.period = p_period)::int
    FROM workspaces w WHERE w.id = p_workspace;
END $$;

CREATE OR REPLACE FUNCTION tm_admit_agent(p_workspace uuid, p_period text, p_agent text, p_kind text, p_limit int)
RETURNS TABLE (admitted boolean, agents int)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  n int;
BEGIN
  PERFORM set_config('app.workspace_id', p_workspace::text, true);
  IF EXISTS (SELECT 1 FROM agents a WHERE a.workspace_id = p_workspace AND a.period = p_period AND a.agent = p_agent) THEN
    RETURN QUERY SELECT true, (SELECT count(*) FROM agents a WHERE a.workspace_id = p_workspace AND a.period = p_period)::int;
    RETURN;
  END IF;
  PERFORM pg_advisory_xact_lock(hashtext('tm_agents:' || p_workspace::text));
  SELECT count(*) INTO n FROM agents a WHERE a.workspace_id = p_workspace AND a.period = p_period;
  IF p_limit IS NOT NULL AND n >= p_limit THEN
    RETURN QUERY SELECT false, n;
    RETURN;
  END IF;
  INSERT INTO agents (workspace_id, period, agent, kind) VALUES (p_workspace, p_period, p_agent, p_kind)
    ON CONFLICT DO NOTHING;
  RETURN QUERY SELECT true, (SELECT count(*) FROM agents a WHERE a.workspace_id = p_workspace AND a.period = p_period)::int;
END $$;
`;
