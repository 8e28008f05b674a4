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
 * - `workspaces.live_memories`: the live memory count the memory limit is checked against,
 *   kept by statement triggers on `memories`, so the check is one read of a row the ingest has
 *   locked anyway. An exact count(*) took 91–137 ms at 250,000 memories (p50, Postgres 15 on a
 *   loaded 2-core machine, `pnpm bench quota`). NULL until first needed: the quota check counts once
 *   then (migrations run as the owner, whom row-level security would keep from backfilling).
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
-- Live memories (not deleted, not a merged duplicate), kept by the triggers below; NULL until
-- the quota check first counts them.
ALTER TABLE workspaces ADD COLUMN live_memories bigint;

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

-- One UPDATE per statement that changes memories, by the change in live rows per workspace
-- (transition tables: a 1,000-row ingest is one update, not 1,000). No update when nothing
-- changed, so an embedding backfill never waits on the workspace row.
CREATE OR REPLACE FUNCTION tm_count_live_memories() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    UPDATE workspaces w SET live_memories = w.live_memories + d.n
      FROM (SELECT workspace_id, count(*) AS n FROM new_rows WHERE NOT deleted AND duplicate_of IS NULL GROUP BY 1) d
      WHERE w.id = d.workspace_id AND w.live_memories IS NOT NULL;
  ELSIF TG_OP = 'DELETE' THEN
    UPDATE workspaces w SET live_memories = w.live_memories - d.n
      FROM (SELECT workspace_id, count(*) AS n FROM old_rows WHERE NOT deleted AND duplicate_of IS NULL GROUP BY 1) d
      WHERE w.id = d.workspace_id AND w.live_memories IS NOT NULL;
  ELSE
    UPDATE workspaces w SET live_memories = w.live_memories + d.n
      FROM (SELECT workspace_id, sum(n) AS n FROM (
              SELECT workspace_id, 1 AS n FROM new_rows WHERE NOT deleted AND duplicate_of IS NULL
              UNION ALL
              SELECT workspace_id, -1 FROM old_rows WHERE NOT deleted AND duplicate_of IS NULL) c
            GROUP BY 1 HAVING sum(n) <> 0) d
      WHERE w.id = d.workspace_id AND w.live_memories IS NOT NULL;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER memories_live_insert AFTER INSERT ON memories REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION tm_count_live_memories();
CREATE TRIGGER memories_live_update AFTER UPDATE ON memories REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION tm_count_live_memories();
CREATE TRIGGER memories_live_delete AFTER DELETE ON memories REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION tm_count_live_memories();

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
