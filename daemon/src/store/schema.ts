/**
 * The daemon's SQLite schema. `rid` (an integer rowid) links a memory to its FTS5 row, its
 * vector and its document; `id` is the UUID every API uses.
 */
export const SCHEMA_VERSION = 1;

/** How the keyword index splits text into tokens: FTS5's `tokenize` option, a word each. */
export const FTS_TOKENIZER = ["porter", "unicode61", "remove_diacritics", "2"] as const;

/** The keyword index; a data folder whose index has another layout rebuilds it (see FTS_INDEX_VERSION). */
export const FTS_TABLE_SQL = `CREATE VIRTUAL TABLE IF NOT EXISTS memories_fts USING fts5 (
  content, tags, prev, next,
  content = '', contentless_delete = 1,
  tokenize = '${FTS_TOKENIZER.join(" ")}'
)`;

/**
 * Each visible memory's thread neighbours (their rowids), written with its keyword row
 * (sqlite-thread-fts.ts): recall reads them instead of searching the thread for each hit.
 */
export const LINKS_TABLE_SQL =
  "CREATE TABLE IF NOT EXISTS memory_links (rid INTEGER PRIMARY KEY, prev INTEGER, next INTEGER)";

export const SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

CREATE TABLE IF NOT EXISTS memories (
  rid INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  content TEXT NOT NULL,
  content_hash TEXT NOT NULL,
  dedup_key TEXT NOT NULL,
  source_type TEXT NOT NULL,
  source_instance TEXT NOT NULL,
  tags TEXT NOT NULL,
  context TEXT,
  confidence REAL NOT NULL,
  supersedes TEXT,
  duplicate_of TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  deleted INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS memories_dedup ON memories (dedup_key) WHERE deleted = 0;
CREATE INDEX IF NOT EXISTS memories_supersedes ON memories (supersedes) WHERE supersedes IS NOT NULL;
CREATE INDEX IF NOT EXISTS memories_created ON memories (created_ms, rid);
CREATE INDEX IF NOT EXISTS memories_instance ON memories (source_instance);
-- The live memories, for counting them (health): without it the count read every row, 12 s at
-- 1M from a cold page cache; with it 0.05 s (11 MB). Built once when an older folder opens. On
-- rid, which no lookup narrows by: on deleted, its equality looked selective to the planner,
-- which then scanned it for lookups of ids (1M: recall 547 ms).
CREATE INDEX IF NOT EXISTS memories_live ON memories (rid) WHERE deleted = 0 AND duplicate_of IS NULL;
-- The forgotten memories, for counting them (stats): the count read every row, 1.7 s at 1M from
-- a cold page cache (0.17 s warm); this index holds only forgotten ones.
CREATE INDEX IF NOT EXISTS memories_forgotten ON memories (rid) WHERE deleted = 1;
-- A source type's memories, newest first: a filter on a type few memories have read every row
-- (1M, none of the type: a list 2.2 s cold, a vector search 0.3 s warm). Built once when an
-- older folder opens (1M: 0.7 s warm, 31 MB).
CREATE INDEX IF NOT EXISTS memories_type ON memories (source_type, created_ms, rid);
-- Thread order: a memory's neighbours are the ones beside it in this index (sqlite-thread-fts.ts).
CREATE INDEX IF NOT EXISTS memories_thread ON memories (source_instance, created_ms, id);

CREATE TABLE IF NOT EXISTS memory_tags (
  tag TEXT NOT NULL,
  rid INTEGER NOT NULL,
  PRIMARY KEY (tag, rid)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS docs (rid INTEGER PRIMARY KEY, bytes BLOB NOT NULL);

CREATE TABLE IF NOT EXISTS changes (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  doc_id TEXT NOT NULL,
  hash TEXT NOT NULL UNIQUE,
  deps TEXT NOT NULL,
  bytes BLOB NOT NULL,
  origin TEXT NOT NULL,
  created_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS changes_doc ON changes (doc_id);

-- Local changes not yet acknowledged by the relay, in local order.
CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY);

CREATE TABLE IF NOT EXISTS sync_state (key TEXT PRIMARY KEY, value TEXT NOT NULL);

-- Local changes the relay refused for good (too large, invalid): out of the outbox so later
-- changes keep syncing, kept here so \`sync status\` and /v1/health can show them. The change
-- itself stays in \`changes\`. Added after schema 1 without a version bump: additive, created
-- on the next open of an older data folder, and ignored by older daemons.
CREATE TABLE IF NOT EXISTS sync_dead_letters (
  seq INTEGER PRIMARY KEY,
  hash TEXT NOT NULL UNIQUE,
  doc_id TEXT NOT NULL,
  code TEXT NOT NULL,
  message TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  created_ms INTEGER NOT NULL
);

-- Which model and content each vector in vec_memories (sqlite-vec, created per model's dims)
-- was computed from.
CREATE TABLE IF NOT EXISTS embeddings (
  rid INTEGER PRIMARY KEY,
  model_id TEXT NOT NULL,
  content_hash TEXT NOT NULL
);

-- Keyword index: a memory's text, tags and its thread neighbours' text (sqlite-thread-fts.ts).
${FTS_TABLE_SQL};
${LINKS_TABLE_SQL};

-- Entities named in memories (shared/src/entities/extract.ts), written with the memory.
CREATE TABLE IF NOT EXISTS entities (
  eid INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  type TEXT NOT NULL,
  -- Live memories naming it: its links, kept by the triggers of addLaterColumns.
  memories INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS entity_aliases (
  alias TEXT NOT NULL,
  eid INTEGER NOT NULL,
  PRIMARY KEY (alias, eid)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS memory_entities (
  eid INTEGER NOT NULL,
  rid INTEGER NOT NULL,
  PRIMARY KEY (eid, rid)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS memory_entities_rid ON memory_entities (rid, eid);

-- Days a memory's text talks about ("on Friday we moved…"), resolved against its created_at.
CREATE TABLE IF NOT EXISTS memory_event_dates (
  rid INTEGER NOT NULL,
  start_ms INTEGER NOT NULL,
  end_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS memory_event_dates_start ON memory_event_dates (start_ms, rid);
CREATE INDEX IF NOT EXISTS memory_event_dates_rid ON memory_event_dates (rid);

-- Common tokens' document counts in the keyword index (term-stats.ts), rebuilt in the
-- background once the store has grown or shrunk by a tenth.
CREATE TABLE IF NOT EXISTS term_stats (
  token TEXT PRIMARY KEY,
  own INTEGER NOT NULL,
  every INTEGER NOT NULL
) WITHOUT ROWID;
`;

/**
 * Columns added after schema 1 without a version bump: additive, so an older data folder gets
 * them on its next open, and older daemons ignore them. `expires_ms`: epoch ms of the memory's
 * `expires_at` (memory/expiry.ts), NULL for never; the filters hide rows past it.
 */
export function addLaterColumns(db: {
  prepare(sql: string): { all(): unknown[] };
  exec(sql: string): unknown;
}): void {
  const columns = new Set(
    (db.prepare("PRAGMA table_info(memories)").all() as { name: string }[]).map((c) => c.name),
  );
  if (!columns.has("expires_ms")) {
    db.exec(`ALTER TABLE memories ADD COLUMN expires_ms INTEGER;
      CREATE INDEX IF NOT EXISTS memories_expiry ON memories (expires_ms) WHERE expires_ms IS NOT NULL AND deleted = 0;`);
  }
  // `project`: the memory's project (service/project-scope.ts), NULL for none.
  if (!columns.has("project")) {
    db.exec(`ALTER TABLE memories ADD COLUMN project TEXT;
      CREATE INDEX IF NOT EXISTS memories_project ON memories (project) WHERE project IS NOT NULL;`);
  }
  // `entities.memories`: how many memories link the entity. Only live memories keep links (a
  // hidden one's are removed as it is written); links a release before that kept go first.
  // Counting them at each list read 3M links at 1M memories (1.8–2.0 s).
  const entityColumns = new Set(
    (db.prepare("PRAGMA table_info(entities)").all() as { name: string }[]).map((c) => c.name),
  );
  if (!entityColumns.has("memories")) {
    db.exec(`ALTER TABLE entities ADD COLUMN memories INTEGER NOT NULL DEFAULT 0;
      DELETE FROM memory_entities WHERE NOT EXISTS (SELECT 1 FROM memories l INDEXED BY memories_live
        WHERE l.rid = memory_entities.rid AND l.deleted = 0 AND l.duplicate_of IS NULL);
      UPDATE entities SET memories = (SELECT count(*) FROM memory_entities me WHERE me.eid = entities.eid);`);
  }
  db.exec(`CREATE TRIGGER IF NOT EXISTS memory_entities_counted AFTER INSERT ON memory_entities
      BEGIN UPDATE entities SET memories = memories + 1 WHERE eid = NEW.eid; END;
    CREATE TRIGGER IF NOT EXISTS memory_entities_uncounted AFTER DELETE ON memory_entities
      BEGIN UPDATE entities SET memories = memories - 1 WHERE eid = OLD.eid; END;`);
}
