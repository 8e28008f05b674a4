/**
 * Migration 10: memory lifetimes (`expires_at` / `ttl` on remember, shared/src/memory/expiry.ts).
 *
 * - `memories.expires_ms`: epoch ms of the memory's `expires_at`, NULL for never. Every read's
 *   filter (pg-filters.ts) hides rows past it; the partial index serves the sweep's lookup.
 * - `expiry_schedule`: per workspace, the earliest expiry of a live memory, kept by a trigger on
 *   `memories`, so the relay's sweep finds the workspaces with something to forget without
 *   scanning every tenant. No row-level security, like `api_key_lookup`: it holds a workspace
 *   id and a time, no content; the sweep reads it outside any workspace and then works inside
 *   each one (RLS applies there as everywhere).
 */
export const V10_EXPIRY = `
ALTER TABLE memories ADD COLUMN IF NOT EXISTS expires_ms bigint;
CREATE INDEX IF NOT EXISTS memories_expiry ON memories (workspace_id, expires_ms)
  WHERE expires_ms IS NOT NULL AND NOT deleted;

CREATE TABLE IF NOT EXISTS expiry_schedule (
  workspace_id uuid PRIMARY KEY REFERENCES workspaces ON DELETE CASCADE,
  next_ms bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS expiry_schedule_next ON expiry_schedule (next_ms);

CREATE OR REPLACE FUNCTION tm_schedule_expiry() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO expiry_schedule AS s (workspace_id, next_ms) VALUES (NEW.workspace_id, NEW.expires_ms)
    ON CONFLICT (workspace_id) DO UPDATE SET next_ms = LEAST(s.next_ms, EXCLUDED.next_ms);
  RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS memories_schedule_expiry ON memories;
CREATE TRIGGER memories_schedule_expiry AFTER INSERT OR UPDATE OF expires_ms, deleted ON memories
  FOR EACH ROW WHEN (NEW.expires_ms IS NOT NULL AND NOT NEW.deleted) EXECUTE FUNCTION tm_schedule_expiry();
`;
