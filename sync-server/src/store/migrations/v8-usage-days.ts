/**
 * Migration 8: usage per day, for the dashboard's charts over time.
 *
 * - `usage_days`: one row per workspace and UTC day with that day's metered queries, writes
 *   and embeds, and the workspace's size as last seen that day: live memories (from
 *   `workspaces.live_memories`, kept by the triggers of migration 6), this month's agents, and
 *   storage bytes. Storage is summed over every memory and change (the `/v1/stats` query), too
 *   dear for every request, so it is written when `GET /v1/usage` computes it anyway; the other
 *   measures ride on the request's own statement.
 * - `tm_record_request` (the 11-argument form of migration 7, same signature) also upserts the
 *   day row in the statement that counts the request: no round trip added.
 */
export const V8_USAGE_DAYS = `
CREATE TABLE usage_days (
  workspace_id uuid NOT NULL REFERENCES workspaces ON DELETE CASCADE,
  day date NOT NULL,
  queries bigint NOT NULL DEFAULT 0,
  writes bigint NOT NULL DEFAULT 0,
  embeds bigint NOT NULL DEFAULT 0,
  -- NULL where no request that day saw the count (live_memories is NULL until first counted).
  memories bigint,
  storage_bytes bigint,
  agents int,
  PRIMARY KEY (workspace_id, day)
);
ALTER TABLE usage_days ENABLE ROW LEVEL SECURITY;
ALTER TABLE usage_days FORCE ROW LEVEL SECURITY;
CREATE POLICY usage_days_scope ON usage_days USING (workspace_id = tm_workspace()) WITH CHECK (workspace_id = tm_workspace());

CREATE OR REPLACE FUNCTION tm_record_request(
  p_workspace uuid, p_key uuid, p_user uuid, p_device text, p_action text, p_target text,
  p_details jsonb, p_period text, p_queries int, p_writes int, p_embeds int)
RETURNS void LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  PERFORM set_config('app.workspace_id', p_workspace::text, true);
  IF p_action IS NOT NULL THEN
    INSERT INTO audit_log (workspace_id, key_id, user_id, device_id, action, target, details)
      VALUES (p_workspace, p_key, p_user, p_device, p_action, p_target, p_details);
  END IF;
  IF p_queries <> 0 OR p_writes <> 0 OR p_embeds <> 0 THEN
    INSERT INTO usage AS u (workspace_id, period, queries, writes, embeds)
      VALUES (p_workspace, p_period, p_queries, p_writes, p_embeds)
      ON CONFLICT (workspace_id, period) DO UPDATE SET
        queries = u.queries + EXCLUDED.queries,
        writes = u.writes + EXCLUDED.writes,
        embeds = u.embeds + EXCLUDED.embeds;
    INSERT INTO usage_days AS d (workspace_id, day, queries, writes, embeds, memories, agents)
      VALUES (p_workspace, (now() AT TIME ZONE 'UTC')::date, p_queries, p_writes, p_embeds,
        (SELECT w.live_memories FROM workspaces w WHERE w.id = p_workspace),
        (SELECT count(*) FROM agents a WHERE a.workspace_id = p_workspace AND a.period = p_period)::int)
      ON CONFLICT (workspace_id, day) DO UPDATE SET
        queries = d.queries + EXCLUDED.queries,
        writes = d.writes + EXCLUDED.writes,
        embeds = d.embeds + EXCLUDED.embeds,
        memories = coalesce(EXCLUDED.memories, d.memories),
        agents = EXCLUDED.agents;
  END IF;
END $$;
`;
