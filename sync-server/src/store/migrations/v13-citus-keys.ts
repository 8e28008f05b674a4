/**
 * Migration 13: keys a Citus cluster can enforce (sync-server/src/store/distribution.ts says
 * where every table lives; README "Scaling the relay" says how to distribute them).
 *
 * Citus enforces a primary key or unique constraint of a distributed table only when it
 * includes the distribution column (each shard checks its own rows), and a foreign key between
 * distributed tables only when both sides include it; a reference table may not point at a
 * distributed one. Four tenant tables had keys of their own id alone, and one reference table
 * pointed at `workspaces`:
 *
 * - `api_keys`, `invitations`, `audit_log`, `plan_history`: primary key `(workspace_id, id)`;
 *   `key_hash` and `token_hash` unique per workspace. Global uniqueness stays where it is
 *   needed: `api_key_lookup` (a reference table) holds each key hash once, written in the key's
 *   own transaction, and a token is 256 random bits. The `(workspace_id, id)` indexes of the
 *   audit log and plan history are the new primary keys, so they go.
 * - `invitations_token`: a plain index for the one lookup made before the workspace is known
 *   (accepting an invitation by its token), which the old unique index served.
 * - `billing_customers` (a reference table: a webhook finds its workspace there) loses its
 *   foreign key to `workspaces`; deleting a workspace deletes its row (pg-workspaces.ts).
 * - `tm_verify_api_key` reads the key by `(workspace_id, id)`, the new primary key.
 *
 * Every statement keeps existing rows: an id that was unique is unique with its workspace.
 */
export const V13_CITUS_KEYS = `
ALTER TABLE api_keys DROP CONSTRAINT api_keys_pkey, ADD CONSTRAINT api_keys_pkey PRIMARY KEY (workspace_id, id);
ALTER TABLE api_keys DROP CONSTRAINT api_keys_key_hash_key,
  ADD CONSTRAINT api_keys_key_hash_key UNIQUE (workspace_id, key_hash);

ALTER TABLE invitations DROP CONSTRAINT invitations_pkey, ADD CONSTRAINT invitations_pkey PRIMARY KEY (workspace_id, id);
ALTER TABLE invitations DROP CONSTRAINT invitations_token_hash_key,
  ADD CONSTRAINT invitations_token_hash_key UNIQUE (workspace_id, token_hash);
CREATE INDEX invitations_token ON invitations (token_hash);

ALTER TABLE audit_log DROP CONSTRAINT audit_log_pkey, ADD CONSTRAINT audit_log_pkey PRIMARY KEY (workspace_id, id);
DROP INDEX audit_log_ws;

ALTER TABLE plan_history DROP CONSTRAINT plan_history_pkey, ADD CONSTRAINT plan_history_pkey PRIMARY KEY (workspace_id, id);
DROP INDEX plan_history_ws;

ALTER TABLE billing_customers DROP CONSTRAINT billing_customers_workspace_id_fkey;
CREATE INDEX billing_customers_workspace ON billing_customers (workspace_id);

CREATE OR REPLACE FUNCTION tm_verify_api_key(p_hash text)
RETURNS TABLE (key_id uuid, workspace_id uuid, user_id uuid, scopes text[], revoked_at timestamptz, last_used_at timestamptz)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  found_key uuid;
  found_workspace uuid;
BEGIN
  SELECT l.key_id, l.workspace_id INTO found_key, found_workspace
    FROM api_key_lookup l WHERE l.key_hash = p_hash;
  IF NOT FOUND THEN RETURN; END IF;
  PERFORM set_config('app.workspace_id', found_workspace::text, true);
  RETURN QUERY SELECT k.id, k.workspace_id, k.user_id, k.scopes, k.revoked_at, k.last_used_at
    FROM api_keys k WHERE k.workspace_id = found_workspace AND k.id = found_key;
END $$;
`;
