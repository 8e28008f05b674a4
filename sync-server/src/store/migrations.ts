import { V5_ACCOUNTS } from "./migrations/v5-accounts.ts";
import { V6_PLANS } from "./migrations/v6-plans.ts";
import { V7_AUDIT } from "./migrations/v7-audit.ts";
import { V8_USAGE_DAYS } from "./migrations/v8-usage-days.ts";
import { V9_PROJECT } from "./migrations/v9-project.ts";
import { V10_EXPIRY } from "./migrations/v10-expiry.ts";
import { V11_VECTOR_DIMS } from "./migrations/v11-vector-dims.ts";
import { V12_SNAPSHOTS } from "./migrations/v12-snapshots.ts";
import { V13_CITUS_KEYS } from "./migrations/v13-citus-keys.ts";

/**
 * The relay schema, as ordered migrations. They run as the database owner (or a superuser);
 * the app then connects as a role without BYPASSRLS. Every tenant table has row-level security
 * keyed by `app.workspace_id`, set per transaction, and FORCE so even an owning role is scoped.
 */
export interface MigrationRunner {
  query(text: string, params?: unknown[]): Promise<unknown[]>;
}

/** The role the embedded (PGlite) relay drops to after migrating. */
export const APP_ROLE_EMBEDDED = "tribal_app";

/**
 * The width migration 1 indexed (bge-small-en-v1.5). Every other common width, and any width a
 * workspace uses, is indexed by `ensureVectorIndexes` (migrations/v11-vector-dims.ts).
 */
export const INDEXED_DIMS = [384];

const TENANT_TABLES = [
  "memberships",
  "api_keys",
  "devices",
  "changes",
  "purged_docs",
  "memories",
  "entities",
  "memory_entities",
  "audit_log",
  "usage",
];

const V1 = `
CREATE EXTENSION IF NOT EXISTS vector;

-- The workspace of the current transaction, or NULL outside one: every policy compares to it.
CREATE OR REPLACE FUNCTION tm_workspace() RETURNS uuid LANGUAGE sql STABLE AS
$$ SELECT NULLIF(current_setting('app.workspace_id', true), '')::uuid $$;

CREATE TABLE users (
  id uuid PRIMARY KEY,
  email text UNIQUE,
  name text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE workspaces (
  id uuid PRIMARY KEY,
  name text NOT NULL,
  -- Per-workspace log position, advanced under this row's lock so seq order = commit order.
  next_seq bigint NOT NULL DEFAULT 1,
  embedding_model text,
  embedding_dims int,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE memberships (
  workspace_id uuid NOT NULL REFERENCES workspaces ON DELETE CASCADE,
  user_id uuid NOT NULL REFERENCES users ON DELETE CASCADE,
  role text NOT NULL,
  PRIMARY KEY (workspace_id, user_id)
);

CREATE TABLE api_keys (
  id uuid PRIMARY KEY,
  workspace_id uuid NOT NULL REFERENCES workspaces ON DELETE CASCADE,
  user_id uuid REFERENCES users ON DELETE SET NULL,
  name text NOT NULL,
  prefix text NOT NULL,
  key_hash text NOT NULL UNIQUE,
  scopes text[] NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz,
  revoked_at timestamptz
);

-- The one table without row-level security: it maps a key's SHA-256 to its workspace so a
-- request can be authenticated before its workspace is known. It holds no secret and no data.
CREATE TABLE api_key_lookup (
  key_hash text PRIMARY KEY,
  key_id uuid NOT NULL,
  workspace_id uuid NOT NULL
);

CREATE TABLE devices (
  workspace_id uuid NOT NULL REFERENCES workspaces ON DELETE CASCADE,
  device_id text NOT NULL,
  actor text,
  cursor bigint NOT NULL DEFAULT 0,
  last_seen_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (workspace_id, device_id)
);

CREATE TABLE changes (
  workspace_id uuid NOT NULL REFERENCES workspaces ON DELETE CASCADE,
  seq bigint NOT NULL,
  kind text NOT NULL DEFAULT 'change',
  doc_id text NOT NULL,
  hash text NOT NULL,
  deps text[] NOT NULL DEFAULT '{}',
  bytes bytea,
  device_id text,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (workspace_id, seq),
  UNIQUE (workspace_id, hash)
);
CREATE INDEX changes_doc ON changes (workspace_id, doc_id);

CREATE TABLE purged_docs (
  workspace_id uuid NOT NULL REFERENCES workspaces ON DELETE CASCADE,
  doc_id text NOT NULL,
  purged_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (workspace_id, doc_id)
);

CREATE TABLE memories (
  workspace_id uuid NOT NULL REFERENCES workspaces ON DELETE CASCADE,
  id text NOT NULL,
  content text NOT NULL,
  content_hash text NOT NULL,
  dedup_key text NOT NULL,
  source_type text NOT NULL,
  source_instance text NOT NULL,
  tags text[] NOT NULL DEFAULT '{}',
  tags_text text NOT NULL DEFAULT '',
  context text,
  confidence double precision NOT NULL,
  supersedes text,
  duplicate_of text,
  created_at text NOT NULL,
  updated_at text NOT NULL,
  created_ms bigint NOT NULL,
  deleted boolean NOT NULL DEFAULT false,
  doc bytea NOT NULL,
  embedding vector,
  embedding_model text,
  embedding_hash text,
  embedding_dims int,
  tsv tsvector GENERATED ALWAYS AS (to_tsvector('english'::regconfig, content || ' ' || tags_text)) STORED,
  PRIMARY KEY (workspace_id, id)
);
CREATE INDEX memories_tsv ON memories USING gin (tsv);
CREATE INDEX memories_tags ON memories USING gin (tags);
CREATE INDEX memories_dedup ON memories (workspace_id, dedup_key) WHERE NOT deleted AND duplicate_of IS NULL;
CREATE INDEX memories_supersedes ON memories (workspace_id, supersedes) WHERE supersedes IS NOT NULL;
CREATE INDEX memories_created ON memories (workspace_id, created_ms DESC, id DESC);
${INDEXED_DIMS.map(
  (d) =>
    `CREATE INDEX memories_embedding_${d} ON memories USING hnsw ((embedding::vector(${d})) vector_cosine_ops) WHERE embedding_dims = ${d};`,
).join("\n")}

CREATE TABLE entities (
  workspace_id uuid NOT NULL REFERENCES workspaces ON DELETE CASCADE,
  name text NOT NULL,
  kind text NOT NULL DEFAULT 'unknown',
  PRIMARY KEY (workspace_id, name)
);
CREATE TABLE memory_entities (
  workspace_id uuid NOT NULL REFERENCES workspaces ON DELETE CASCADE,
  memory_id text NOT NULL,
  entity text NOT NULL,
  PRIMARY KEY (workspace_id, memory_id, entity)
);

CREATE TABLE audit_log (
  id bigserial PRIMARY KEY,
  workspace_id uuid NOT NULL REFERENCES workspaces ON DELETE CASCADE,
  at timestamptz NOT NULL DEFAULT now(),
  key_id uuid,
  action text NOT NULL,
  target text,
  details jsonb
);
CREATE INDEX audit_log_ws ON audit_log (workspace_id, id);

CREATE TABLE usage (
  workspace_id uuid NOT NULL REFERENCES workspaces ON DELETE CASCADE,
  period text NOT NULL,
  queries bigint NOT NULL DEFAULT 0,
  writes bigint NOT NULL DEFAULT 0,
  embeds bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (workspace_id, period)
);

ALTER TABLE workspaces ENABLE ROW LEVEL SECURITY;
ALTER TABLE workspaces FORCE ROW LEVEL SECURITY;
CREATE POLICY workspace_scope ON workspaces USING (id = tm_workspace());
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE users FORCE ROW LEVEL SECURITY;
-- A user is visible to the workspaces it belongs to; created before its membership exists.
CREATE POLICY users_scope ON users USING (id IN (SELECT user_id FROM memberships WHERE workspace_id = tm_workspace()))
  WITH CHECK (true);
${TENANT_TABLES.map(
  (t) => `ALTER TABLE ${t} ENABLE ROW LEVEL SECURITY;
ALTER TABLE ${t} FORCE ROW LEVEL SECURITY;
CREATE POLICY ${t}_scope ON ${t} USING (workspace_id = tm_workspace()) WITH CHECK (workspace_id = tm_workspace());`,
).join("\n")}
`;

/**
 * Session transcripts synced by daemons with `sync.sessions: true`. Messages carry the device
 * that first sent them and a per-workspace log position (`log_seq`, taken under the
 * `session_log_heads` row lock so log order = commit order): a daemon pulls what other devices
 * sent after its cursor. Chunks are derived here from the messages, as on a daemon.
 */
const SESSION_TABLES = ["session_log_heads", "sessions", "session_messages", "session_chunks"];

const V2 = `
CREATE TABLE session_log_heads (
  workspace_id uuid PRIMARY KEY REFERENCES workspaces ON DELETE CASCADE,
  next_seq bigint NOT NULL DEFAULT 1
);

CREATE TABLE sessions (
  workspace_id uuid NOT NULL REFERENCES workspaces ON DELETE CASCADE,
  session_id text NOT NULL,
  instance_id text NOT NULL,
  source text,
  next_seq int NOT NULL DEFAULT 0,
  next_chunk int NOT NULL DEFAULT 0,
  updated_ms bigint NOT NULL,
  PRIMARY KEY (workspace_id, session_id)
);

CREATE TABLE session_messages (
  workspace_id uuid NOT NULL REFERENCES workspaces ON DELETE CASCADE,
  session_id text NOT NULL,
  seq int NOT NULL,
  key text NOT NULL,
  role text NOT NULL,
  content text NOT NULL,
  ts_ms bigint NOT NULL,
  device_id text,
  log_seq bigint NOT NULL,
  PRIMARY KEY (workspace_id, session_id, seq),
  UNIQUE (workspace_id, session_id, key)
);
CREATE INDEX session_messages_log ON session_messages (workspace_id, log_seq);
CREATE INDEX session_messages_ts ON session_messages (workspace_id, ts_ms);

CREATE TABLE session_chunks (
  workspace_id uuid NOT NULL REFERENCES workspaces ON DELETE CASCADE,
  id text NOT NULL,
  session_id text NOT NULL,
  chunk_index int NOT NULL,
  start_seq int NOT NULL,
  start_token int NOT NULL,
  last_seq int NOT NULL,
  content text NOT NULL,
  word_count int NOT NULL,
  start_ms bigint NOT NULL,
  end_ms bigint NOT NULL,
  open boolean NOT NULL DEFAULT false,
  embedding vector,
  embedding_model text,
  embedding_dims int,
  tsv tsvector GENERATED ALWAYS AS (to_tsvector('english'::regconfig, content)) STORED,
  PRIMARY KEY (workspace_id, id)
);
CREATE INDEX session_chunks_session ON session_chunks (workspace_id, session_id, chunk_index);
CREATE INDEX session_chunks_tsv ON session_chunks USING gin (tsv);
CREATE INDEX session_chunks_end ON session_chunks (workspace_id, end_ms);

${SESSION_TABLES.map(
  (t) => `ALTER TABLE ${t} ENABLE ROW LEVEL SECURITY;
ALTER TABLE ${t} FORCE ROW LEVEL SECURITY;
CREATE POLICY ${t}_scope ON ${t} USING (workspace_id = tm_workspace()) WITH CHECK (workspace_id = tm_workspace());`,
).join("\n")}
`;

/**
 * The entity index and event dates of memories, as on a daemon (shared/src/entities/extract.ts,
 * shared/src/recall/event-dates.ts), written with the memory row. V1's `entities` (name, kind)
 * and `memory_entities` (memory_id, entity) are kept and filled; aliases and event dates are new.
 * `workspaces.entity_index_version` says which extractor built a workspace's index: a store
 * rebuilds it when the version differs (memories written before this migration included).
 */
const ENTITY_TABLES = ["entity_aliases", "memory_event_dates"];

const V3 = `
ALTER TABLE workspaces ADD COLUMN entity_index_version int NOT NULL DEFAULT 0;

CREATE INDEX memory_entities_entity ON memory_entities (workspace_id, entity, memory_id);

CREATE TABLE entity_aliases (
  workspace_id uuid NOT NULL REFERENCES workspaces ON DELETE CASCADE,
  alias text NOT NULL,
  entity text NOT NULL,
  PRIMARY KEY (workspace_id, alias, entity)
);

CREATE TABLE memory_event_dates (
  workspace_id uuid NOT NULL REFERENCES workspaces ON DELETE CASCADE,
  memory_id text NOT NULL,
  start_ms bigint NOT NULL,
  end_ms bigint NOT NULL
);
CREATE INDEX memory_event_dates_start ON memory_event_dates (workspace_id, start_ms, memory_id);
CREATE INDEX memory_event_dates_memory ON memory_event_dates (workspace_id, memory_id);

${ENTITY_TABLES.map(
  (t) => `ALTER TABLE ${t} ENABLE ROW LEVEL SECURITY;
ALTER TABLE ${t} FORCE ROW LEVEL SECURITY;
CREATE POLICY ${t}_scope ON ${t} USING (workspace_id = tm_workspace()) WITH CHECK (workspace_id = tm_workspace());`,
).join("\n")}
`;

/**
 * One round trip per request for what every request does (measured at fdc578d: ~6 round trips
 * to verify a key, and two more transactions of ~4 each to audit and meter a write). Both run
 * as the caller (row-level security applies) and scope themselves to the workspace with
 * `set_config(…, true)`, which lasts until the end of the statement's own transaction.
 */
const V4 = `
-- The key of a SHA-256 with its workspace, scopes and revocation: the lookup (no RLS), then the
-- key under its workspace's scope. No row: unknown key.
CREATE OR REPLACE FUNCTION tm_verify_api_key(p_hash text)
RETURNS TABLE (key_id uuid, workspace_id uuid, scopes text[], revoked_at timestamptz, last_used_at timestamptz)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  found_key uuid;
  found_workspace uuid;
BEGIN
  SELECT l.key_id, l.workspace_id INTO found_key, found_workspace
    FROM api_key_lookup l WHERE l.key_hash = p_hash;
  IF NOT FOUND THEN RETURN; END IF;
  PERFORM set_config('app.workspace_id', found_workspace::text, true);
  RETURN QUERY SELECT k.id, k.workspace_id, k.scopes, k.revoked_at, k.last_used_at
    FROM api_keys k WHERE k.id = found_key;
END $$;

-- A request's audit row (when p_action is given) and its usage counts, in one transaction.
CREATE OR REPLACE FUNCTION tm_record_request(
  p_workspace uuid, p_key uuid, p_action text, p_target text, p_details jsonb,
  p_period text, p_queries int, p_writes int, p_embeds int)
RETURNS void LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  PERFORM set_config('app.workspace_id', p_workspace::text, true);
  IF p_action IS NOT NULL THEN
    INSERT INTO audit_log (workspace_id, key_id, action, target, details)
      VALUES (p_workspace, p_key, p_action, p_target, p_details);
  END IF;
  INSERT INTO usage AS u (workspace_id, period, queries, writes, embeds)
    VALUES (p_workspace, p_period, p_queries, p_writes, p_embeds)
    ON CONFLICT (workspace_id, period) DO UPDATE SET
      queries = u.queries + EXCLUDED.queries,
      writes = u.writes + EXCLUDED.writes,
      embeds = u.embeds + EXCLUDED.embeds;
END $$;
`;

/**
 * Every migration, in order. Migrations from 5 on live one per file in `./migrations/`
 * (`v5-….ts` exporting its SQL); a version missing from `schema_migrations` is applied even
 * when a later one already is.
 */
const MIGRATIONS: { version: number; sql: string }[] = [
  { version: 1, sql: V1 },
  { version: 2, sql: V2 },
  { version: 3, sql: V3 },
  { version: 4, sql: V4 },
  { version: 5, sql: V5_ACCOUNTS },
  { version: 6, sql: V6_PLANS },
  { version: 7, sql: V7_AUDIT },
  { version: 8, sql: V8_USAGE_DAYS },
  { version: 9, sql: V9_PROJECT },
  { version: 10, sql: V10_EXPIRY },
  { version: 11, sql: V11_VECTOR_DIMS },
  { version: 12, sql: V12_SNAPSHOTS },
  { version: 13, sql: V13_CITUS_KEYS },
];

/** The schema versions this build expects (readiness compares them to `schema_migrations`). */
export const MIGRATION_VERSIONS: readonly number[] = MIGRATIONS.map((m) => m.version);

export async function migrate(db: MigrationRunner, options: { appRole: string | null }): Promise<void> {
  await db.query("BEGIN");
  try {
    // Several relay processes may start at once: one migrates, the others wait.
    await db.query("SELECT pg_advisory_xact_lock(727274)");
    await db.query(
      "CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())",
    );
    const rows = (await db.query("SELECT version FROM schema_migrations")) as { version: number }[];
    const applied = new Set(rows.map((r) => r.version));
    for (const m of MIGRATIONS) {
      if (applied.has(m.version)) continue;
      await db.query(m.sql);
      await db.query("INSERT INTO schema_migrations (version) VALUES ($1)", [m.version]);
    }
    const role = options.appRole;
    if (role) {
      if (role === APP_ROLE_EMBEDDED) {
        await db.query(`DO $$ BEGIN
          IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${APP_ROLE_EMBEDDED}') THEN
            CREATE ROLE ${APP_ROLE_EMBEDDED} NOLOGIN NOSUPERUSER NOBYPASSRLS;
          END IF; END $$`);
      }
      const r = `"${role.replace(/"/g, '""')}"`;
      await db.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${r}`);
      await db.query(`GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ${r}`);
      await db.query(`GRANT EXECUTE ON FUNCTION tm_workspace() TO ${r}`);
      await db.query(`GRANT EXECUTE ON FUNCTION tm_verify_api_key(text) TO ${r}`);
      await db.query(
        `GRANT EXECUTE ON FUNCTION tm_record_request(uuid, uuid, text, text, jsonb, text, int, int, int) TO ${r}`,
      );
    }
    await db.query("COMMIT");
  } catch (err) {
    await db.query("ROLLBACK").catch(() => undefined);
    throw err;
  }
}
