/**
 * Session tables, beside the memory tables in the daemon's database. They are never part of
 * the CRDT changes: session chunks stay on this machine unless `sync.sessions` is enabled.
 * `CREATE … IF NOT EXISTS` so a daemon start on an older data folder adds them.
 */
export const SESSION_SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS sessions (
  session_id TEXT PRIMARY KEY,
  instance_id TEXT NOT NULL,
  source TEXT,
  next_seq INTEGER NOT NULL DEFAULT 0,
  next_chunk INTEGER NOT NULL DEFAULT 0,
  updated_ms INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS session_messages (
  session_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  key TEXT NOT NULL,
  role TEXT NOT NULL,
  content TEXT NOT NULL,
  ts_ms INTEGER NOT NULL,
  PRIMARY KEY (session_id, seq)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS session_messages_key ON session_messages (session_id, key);
CREATE INDEX IF NOT EXISTS session_messages_ts ON session_messages (ts_ms);

CREATE TABLE IF NOT EXISTS session_chunks (
  rid INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  session_id TEXT NOT NULL,
  chunk_index INTEGER NOT NULL,
  start_seq INTEGER NOT NULL,
  start_token INTEGER NOT NULL,
  last_seq INTEGER NOT NULL,
  content TEXT NOT NULL,
  word_count INTEGER NOT NULL,
  start_ms INTEGER NOT NULL,
  end_ms INTEGER NOT NULL,
  open INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS session_chunks_session ON session_chunks (session_id, chunk_index);
CREATE INDEX IF NOT EXISTS session_chunks_open ON session_chunks (session_id) WHERE open = 1;
CREATE INDEX IF NOT EXISTS session_chunks_end ON session_chunks (end_ms);

CREATE TABLE IF NOT EXISTS session_chunk_vectors (
  rid INTEGER PRIMARY KEY,
  model_id TEXT NOT NULL,
  vector BLOB NOT NULL
);

CREATE VIRTUAL TABLE IF NOT EXISTS session_chunks_fts USING fts5 (
  content,
  content = '', contentless_delete = 1,
  tokenize = 'porter unicode61 remove_diacritics 2'
);

-- The transcript watcher's read position in each file: a restart neither loses nor repeats.
CREATE TABLE IF NOT EXISTS session_watch_files (
  path TEXT PRIMARY KEY,
  file_id TEXT NOT NULL,
  offset INTEGER NOT NULL,
  session_id TEXT NOT NULL,
  updated_ms INTEGER NOT NULL
);
`;
