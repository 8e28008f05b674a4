/**
 * Migration 5: accounts. Users log in with email + password and get a login session; they
 * belong to workspaces through memberships (owner / admin / member / viewer), are invited by
 * link, and create keys that record who made them.
 *
 * - `app.user_id` (`tm_user()`) is the second row-level-security setting, beside
 *   `app.workspace_id`: a user sees their own row, their own memberships in every workspace and
 *   those workspaces (read only), their login sessions, and nothing of the owner's rights.
 * - What must be found before any scope is known (a user by email at login, a session by its
 *   token's SHA-256, an invitation by its token's SHA-256) is looked up by a SECURITY DEFINER
 *   function that returns only that row's ids. Each function names the one row it may see in a
 *   transaction-local setting that a SELECT-only policy matches, then clears it: that works
 *   whether the migrating role is a superuser (RLS skipped) or a plain owner (FORCE applies to
 *   owners too, so a bare SECURITY DEFINER would see nothing).
 * - `tm_verify_api_key` also returns the key's creator (`user_id`).
 */
export const V5_ACCOUNTS = `
-- The user of the current transaction (a login session), or NULL outside one.
CREATE OR REPLACE FUNCTION tm_user() RETURNS uuid LANGUAGE sql STABLE AS
$$ SELECT NULLIF(current_setting('app.user_id', true), '')::uuid $$;

ALTER TABLE users ADD COLUMN password_hash text;
-- Emails are stored lower-cased; the index also refuses two spellings of one address.
CREATE UNIQUE INDEX users_email_lower ON users (lower(email));
CREATE POLICY users_self ON users USING (id = tm_user()) WITH CHECK (id = tm_user());
CREATE POLICY users_login_lookup ON users FOR SELECT
  USING (lower(email) = NULLIF(current_setting('app.login_email', true), ''));

ALTER TABLE memberships ADD CONSTRAINT memberships_role CHECK (role IN ('owner', 'admin', 'member', 'viewer'));
CREATE INDEX memberships_user ON memberships (user_id, workspace_id);
CREATE POLICY memberships_self ON memberships FOR SELECT USING (user_id = tm_user());
CREATE POLICY workspaces_member ON workspaces FOR SELECT
  USING (id IN (SELECT m.workspace_id FROM memberships m WHERE m.user_id = tm_user()));

-- Who created a key: a user (api_keys.user_id, as before) and/or the key that asked.
ALTER TABLE api_keys ADD COLUMN created_by_key uuid;
CREATE INDEX api_keys_user ON api_keys (workspace_id, user_id) WHERE user_id IS NOT NULL;

CREATE TABLE login_sessions (
  id uuid PRIMARY KEY,
  user_id uuid NOT NULL REFERENCES users ON DELETE CASCADE,
  token_hash text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now(),
  last_seen_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  revoked_at timestamptz
);
CREATE INDEX login_sessions_user ON login_sessions (user_id);
ALTER TABLE login_sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE login_sessions FORCE ROW LEVEL SECURITY;
CREATE POLICY login_sessions_scope ON login_sessions USING (user_id = tm_user()) WITH CHECK (user_id = tm_user());
CREATE POLICY login_sessions_lookup ON login_sessions FOR SELECT
  USING (token_hash = NULLIF(current_setting('app.session_hash', true), ''));

CREATE TABLE invitations (
  id uuid PRIMARY KEY,
  workspace_id uuid NOT NULL REFERENCES workspaces ON DELETE CASCADE,
  email text,
  role text NOT NULL CHECK (role IN ('admin', 'member', 'viewer')),
  token_hash text NOT NULL UNIQUE,
  created_by uuid REFERENCES users ON DELETE SET NULL,
  created_by_key uuid,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  accepted_at timestamptz,
  accepted_by uuid REFERENCES users ON DELETE SET NULL,
  revoked_at timestamptz
);
CREATE INDEX invitations_ws ON invitations (workspace_id, created_at);
ALTER TABLE invitations ENABLE ROW LEVEL SECURITY;
ALTER TABLE invitations FORCE ROW LEVEL SECURITY;
CREATE POLICY invitations_scope ON invitations USING (workspace_id = tm_workspace()) WITH CHECK (workspace_id = tm_workspace());
CREATE POLICY invitations_lookup ON invitations FOR SELECT
  USING (token_hash = NULLIF(current_setting('app.invitation_hash', true), ''));

-- The confirmation a workspace deletion needs: short-lived, one user's, one workspace's.
CREATE TABLE workspace_deletion_requests (
  workspace_id uuid NOT NULL REFERENCES workspaces ON DELETE CASCADE,
  token_hash text NOT NULL,
  user_id uuid NOT NULL REFERENCES users ON DELETE CASCADE,
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (workspace_id, token_hash)
);
ALTER TABLE workspace_deletion_requests ENABLE ROW LEVEL SECURITY;
ALTER TABLE workspace_deletion_requests FORCE ROW LEVEL SECURITY;
CREATE POLICY workspace_deletion_requests_scope ON workspace_deletion_requests
  USING (workspace_id = tm_workspace()) WITH CHECK (workspace_id = tm_workspace());

-- Login: the user of an email and their password hash, nothing else.
CREATE FUNCTION tm_login_lookup(p_email text)
RETURNS TABLE (user_id uuid, password_hash text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public AS $$
BEGIN
  PERFORM set_config('app.login_email', lower(p_email), true);
  RETURN QUERY SELECT u.id, u.password_hash FROM users u WHERE lower(u.email) = lower(p_email);
  PERFORM set_config('app.login_email', '', true);
END $$;

-- A login session by its token's SHA-256, with the caller's role in p_workspace (NULL: none
-- asked, or not a member). A live session's expiry slides, written at most once a minute.
CREATE FUNCTION tm_session_lookup(p_hash text, p_workspace uuid, p_ttl interval)
RETURNS TABLE (session_id uuid, user_id uuid, expires_at timestamptz, revoked_at timestamptz, role text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public AS $$
DECLARE
  s login_sessions%ROWTYPE;
  new_expiry timestamptz;
  found_role text;
BEGIN
  PERFORM set_config('app.session_hash', p_hash, true);
  SELECT * INTO s FROM login_sessions l WHERE l.token_hash = p_hash;
  PERFORM set_config('app.session_hash', '', true);
  -- Not FOUND: PERFORM has reset it.
  IF s.id IS NULL THEN RETURN; END IF;
  PERFORM set_config('app.user_id', s.user_id::text, true);
  IF s.revoked_at IS NULL AND s.expires_at > now() THEN
    IF s.last_seen_at < now() - interval '1 minute' THEN
      new_expiry := now() + p_ttl;
      UPDATE login_sessions SET last_seen_at = now(), expires_at = new_expiry WHERE id = s.id;
      s.expires_at := new_expiry;
    END IF;
    IF p_workspace IS NOT NULL THEN
      SELECT m.role INTO found_role FROM memberships m
        WHERE m.workspace_id = p_workspace AND m.user_id = s.user_id;
    END IF;
  END IF;
  PERFORM set_config('app.user_id', '', true);
  RETURN QUERY SELECT s.id, s.user_id, s.expires_at, s.revoked_at, found_role;
END $$;

-- An invitation by its token's SHA-256: its id and workspace, to scope the acceptance.
CREATE FUNCTION tm_invitation_lookup(p_hash text)
RETURNS TABLE (invitation_id uuid, workspace_id uuid)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public AS $$
BEGIN
  PERFORM set_config('app.invitation_hash', p_hash, true);
  RETURN QUERY SELECT i.id, i.workspace_id FROM invitations i WHERE i.token_hash = p_hash;
  PERFORM set_config('app.invitation_hash', '', true);
END $$;

-- As in migration 4, plus the key's creator.
DROP FUNCTION tm_verify_api_key(text);
CREATE FUNCTION tm_verify_api_key(p_hash text)
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
    FROM api_keys k WHERE k.id = found_key;
END $$;
`;
