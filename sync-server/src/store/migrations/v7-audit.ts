/**
 * Migration 7: an audit log admins can read, workspace regions, and tombstones of deleted
 * workspaces.
 *
 * - `audit_log` says who (key, user, device) as well as what and when. Pages are read newest
 *   first by id (keyset paging, stable while rows are added), so every filter has an index that
 *   ends in `id`; `action` uses text_pattern_ops so a prefix (`key.`) is an index range in any
 *   collation.
 * - `workspaces.region`: where a workspace's data lives; a relay serving other regions refuses
 *   it (421 WRONG_REGION). Existing workspaces get the default region.
 * - `tm_record_request` gains the request's user and device: a new overload, still one
 *   statement per request. The old signature stays for relay processes of the previous build
 *   during a rolling upgrade (it records no user or device).
 * - Plan changes (plan_history, migration 6) write an audit row by trigger, on every path.
 * - Tombstones: a deleted workspace and the hashes of its keys leave a row each, written by
 *   triggers whoever deletes them, so a daemon that comes back with a key of a deleted
 *   workspace is told WORKSPACE_DELETED (and purges its copy) rather than "unknown key". They
 *   hold ids, a SHA-256 and a time, no data, and like `api_key_lookup` have no row-level
 *   security: they are read before a workspace is known.
 */
export const V7_AUDIT = `
ALTER TABLE audit_log ADD COLUMN user_id uuid;
ALTER TABLE audit_log ADD COLUMN device_id text;
CREATE INDEX audit_log_ws_action ON audit_log (workspace_id, action text_pattern_ops, id);
CREATE INDEX audit_log_ws_key ON audit_log (workspace_id, key_id, id) WHERE key_id IS NOT NULL;
CREATE INDEX audit_log_ws_user ON audit_log (workspace_id, user_id, id) WHERE user_id IS NOT NULL;
CREATE INDEX audit_log_ws_device ON audit_log (workspace_id, device_id, id) WHERE device_id IS NOT NULL;
CREATE INDEX audit_log_ws_at ON audit_log (workspace_id, at);

ALTER TABLE workspaces ADD COLUMN region text NOT NULL DEFAULT 'default';

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
  END IF;
END $$;

CREATE TABLE workspace_tombstones (
  workspace_id uuid PRIMARY KEY,
  deleted_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE api_key_tombstones (
  key_hash text PRIMARY KEY,
  workspace_id uuid NOT NULL
);

CREATE OR REPLACE FUNCTION tm_tombstone_workspace() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO workspace_tombstones (workspace_id) VALUES (OLD.id) ON CONFLICT DO NOTHING;
  RETURN OLD;
END $$;
CREATE TRIGGER workspaces_tombstone AFTER DELETE ON workspaces
  FOR EACH ROW EXECUTE FUNCTION tm_tombstone_workspace();

CREATE OR REPLACE FUNCTION tm_tombstone_key() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO api_key_tombstones (key_hash, workspace_id) VALUES (OLD.key_hash, OLD.workspace_id)
    ON CONFLICT DO NOTHING;
  RETURN OLD;
END $$;
CREATE TRIGGER api_key_lookup_tombstone AFTER DELETE ON api_key_lookup
  FOR EACH ROW EXECUTE FUNCTION tm_tombstone_key();

-- Every plan change, whichever path made it (billing webhook, \`relay plan\`, an admin), is
-- audited in the transaction that records it in plan_history (migration 6), under the same
-- workspace scope.
CREATE OR REPLACE FUNCTION tm_audit_plan_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO audit_log (workspace_id, action, target, details)
    VALUES (NEW.workspace_id, 'plan.change', NEW.plan, jsonb_build_object(
      'from', NEW.from_plan, 'source', NEW.source, 'reference', NEW.reference,
      'custom_limits', NEW.custom_limits));
  RETURN NEW;
END $$;
DO $$ BEGIN
  IF to_regclass('plan_history') IS NOT NULL THEN
    CREATE TRIGGER plan_history_audit AFTER INSERT ON plan_history
      FOR EACH ROW EXECUTE FUNCTION tm_audit_plan_change();
  END IF;
END $$;

-- When the workspace of a key's SHA-256 was deleted: asked only once a key failed to verify,
-- so a good key pays nothing for it.
CREATE OR REPLACE FUNCTION tm_deleted_workspace_of_key(p_hash text)
RETURNS TABLE (workspace_id uuid, deleted_at timestamptz) LANGUAGE sql STABLE AS $$
  SELECT t.workspace_id, t.deleted_at FROM workspace_tombstones t
  WHERE t.workspace_id IN (
    SELECT l.workspace_id FROM api_key_lookup l WHERE l.key_hash = p_hash
    UNION ALL
    SELECT k.workspace_id FROM api_key_tombstones k WHERE k.key_hash = p_hash)
$$;
`;
