import type Database from "better-sqlite3";
import type { SqliteMemoryStore } from "./sqlite-store.ts";
import { getSyncState, setSyncState } from "./sync-log-store.ts";

/**
 * The daemon's bookkeeping of the session stream in SQLite: how far each local session has
 * been acknowledged by a relay (`session_sync_pushed`, per relay, so a daemon pointed at
 * another relay sends everything there too), and the stream's cursor, kept in `sync_state`
 * beside the change log's. The session transcripts themselves are SqliteSessionStore's.
 */

export const SESSION_SYNC_SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS session_sync_pushed (
  relay TEXT NOT NULL,
  session_id TEXT NOT NULL,
  pushed_seq INTEGER NOT NULL,
  PRIMARY KEY (relay, session_id)
) WITHOUT ROWID;
`;

const CURSOR_KEY = "sessions_cursor";

/** A local session with messages the relay has not acknowledged. */
export interface PendingSession {
  session_id: string;
  instance_id: string;
  source: string | null;
  next_seq: number;
  /** Messages below this local seq are acknowledged. */
  pushed: number;
}

export interface StoredMessageRow {
  seq: number;
  key: string;
  role: string;
  content: string;
  ts_ms: number;
}

export class SqliteSessionSyncStore {
  private readonly store: SqliteMemoryStore;
  private readonly relay: string;
  private readonly stmts;

  constructor(store: SqliteMemoryStore, relay: string) {
    this.store = store;
    this.relay = relay.replace(/\/$/, "");
    const db: Database.Database = store.db;
    db.exec(SESSION_SYNC_SCHEMA_SQL);
    migrateHttpCursor(store, this.relay);
    this.stmts = {
      pending: db.prepare(
        `SELECT s.session_id, s.instance_id, s.source, s.next_seq, coalesce(p.pushed_seq, 0) AS pushed
         FROM sessions s LEFT JOIN session_sync_pushed p ON p.relay = ? AND p.session_id = s.session_id
         WHERE s.next_seq > coalesce(p.pushed_seq, 0) ORDER BY s.updated_ms LIMIT 1`,
      ),
      messages: db.prepare(
        "SELECT seq, key, role, content, ts_ms FROM session_messages WHERE session_id = ? AND seq >= ? ORDER BY seq LIMIT ?",
      ),
      getPushed: db.prepare("SELECT pushed_seq FROM session_sync_pushed WHERE relay = ? AND session_id = ?"),
      setPushed: db.prepare(
        `INSERT INTO session_sync_pushed (relay, session_id, pushed_seq) VALUES (?, ?, ?)
         ON CONFLICT(relay, session_id) DO UPDATE SET pushed_seq = max(pushed_seq, excluded.pushed_seq)`,
      ),
      nextSeq: db.prepare("SELECT next_seq FROM sessions WHERE session_id = ?"),
    };
  }

  /** The least recently updated session with unacknowledged messages, if any. */
  nextPending(): PendingSession | null {
    return (this.stmts.pending.get(this.relay) as PendingSession | undefined) ?? null;
  }

  /** Up to `limit` messages of a session from local seq `from` on, in order. */
  messagesFrom(sessionId: string, from: number, limit: number): StoredMessageRow[] {
    return this.stmts.messages.all(sessionId, from, limit) as StoredMessageRow[];
  }

  pushedSeq(sessionId: string): number {
    return (
      (this.stmts.getPushed.get(this.relay, sessionId) as { pushed_seq: number } | undefined)?.pushed_seq ?? 0
    );
  }

  /** Messages below `seq` are on the relay (never moves back). */
  setPushed(sessionId: string, seq: number): void {
    this.stmts.setPushed.run(this.relay, sessionId, seq);
  }

  /** The session's next local seq (0 when it does not exist). */
  nextSeq(sessionId: string): number {
    return (this.stmts.nextSeq.get(sessionId) as { next_seq: number } | undefined)?.next_seq ?? 0;
  }

  cursor(): number {
    return Number(getSyncState(this.store, CURSOR_KEY) ?? 0);
  }

  setCursor(cursor: number): void {
    setSyncState(this.store, CURSOR_KEY, String(cursor));
  }
}

/**
 * Sessions used to be pulled over HTTP with a cursor in `session_sync_state`; the session log
 * is the same, so that cursor carries over and an upgraded daemon does not pull it all again.
 */
function migrateHttpCursor(store: SqliteMemoryStore, relay: string): void {
  const db = store.db;
  const old = db
    .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'session_sync_state'")
    .get();
  if (!old || getSyncState(store, CURSOR_KEY) !== null) return;
  const row = db.prepare("SELECT cursor FROM session_sync_state WHERE relay = ?").get(relay) as
    | { cursor: number }
    | undefined;
  if (row) setSyncState(store, CURSOR_KEY, String(row.cursor));
}
