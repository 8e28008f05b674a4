import {
  SESSION_CHUNK_COLUMNS,
  type SessionChunkRow,
  sessionChunkValues,
  toSessionChunk,
} from "@tribalmemory/shared/sessions/chunk-rows";
import type { SessionChunkDraft } from "@tribalmemory/shared/sessions/chunking";
import type {
  NewSessionMessage,
  SessionChunk,
  SessionFilters,
  SessionStats,
  SessionStore,
  StoredChunkRef,
  StoredSessionMessage,
} from "@tribalmemory/shared/sessions/session-store";
import type { SearchHit } from "@tribalmemory/shared/store/memory-store";
import type Database from "better-sqlite3";
import { SESSION_SCHEMA_SQL } from "./session-schema.ts";
import { fromBlob, toBlob } from "./vectors.ts";

/** Session transcripts in the daemon's SQLite database (same file and connection as memories). */
export class SqliteSessionStore implements SessionStore {
  private readonly db: Database.Database;

  constructor(db: Database.Database) {
    this.db = db;
    this.db.exec(SESSION_SCHEMA_SQL);
  }

  async appendMessages(
    sessionId: string,
    meta: { instanceId: string; source: string | null },
    messages: NewSessionMessage[],
  ): Promise<{ inserted: StoredSessionMessage[]; duplicates: number }> {
    const db = this.db;
    return db
      .transaction(() => {
        const now = Date.now();
        db.prepare(
          `INSERT INTO sessions (session_id, instance_id, source, updated_ms) VALUES (?, ?, ?, ?)
         ON CONFLICT(session_id) DO UPDATE SET updated_ms = excluded.updated_ms`,
        ).run(sessionId, meta.instanceId, meta.source, now);
        let seq = (
          db.prepare("SELECT next_seq FROM sessions WHERE session_id = ?").get(sessionId) as {
            next_seq: number;
          }
        ).next_seq;
        const insert = db.prepare(
          "INSERT OR IGNORE INTO session_messages (session_id, seq, key, role, content, ts_ms) VALUES (?, ?, ?, ?, ?, ?)",
        );
        const inserted: StoredSessionMessage[] = [];
        let duplicates = 0;
        for (const m of messages) {
          const r = insert.run(sessionId, seq, m.key, m.role, m.content, m.timestampMs);
          if (r.changes === 0) {
            duplicates++;
            continue;
          }
          inserted.push({ seq, role: m.role, content: m.content, timestampMs: m.timestampMs });
          seq++;
        }
        db.prepare("UPDATE sessions SET next_seq = ? WHERE session_id = ?").run(seq, sessionId);
        return { inserted, duplicates };
      })
      .immediate();
  }

  async openChunk(sessionId: string): Promise<StoredChunkRef | null> {
    const row = this.db
      .prepare(
        "SELECT id, chunk_index, start_seq, start_token FROM session_chunks WHERE session_id = ? AND open = 1",
      )
      .get(sessionId) as
      | { id: string; chunk_index: number; start_seq: number; start_token: number }
      | undefined;
    return row
      ? { id: row.id, chunkIndex: row.chunk_index, start: { seq: row.start_seq, token: row.start_token } }
      : null;
  }

  async messagesFrom(sessionId: string, seq: number): Promise<StoredSessionMessage[]> {
    return this.db
      .prepare(
        "SELECT seq, role, content, ts_ms AS timestampMs FROM session_messages WHERE session_id = ? AND seq >= ? ORDER BY seq",
      )
      .all(sessionId, seq) as StoredSessionMessage[];
  }

  async replaceTail(
    sessionId: string,
    replace: StoredChunkRef | null,
    chunks: { draft: SessionChunkDraft; vector: { modelId: string; vector: Float32Array } | null }[],
  ): Promise<void> {
    const db = this.db;
    db.transaction(() => {
      let index = (
        db.prepare("SELECT next_chunk FROM sessions WHERE session_id = ?").get(sessionId) as {
          next_chunk: number;
        }
      ).next_chunk;
      if (replace) {
        this.deleteChunkRids(
          db.prepare("SELECT rid FROM session_chunks WHERE id = ?").all(replace.id) as { rid: number }[],
        );
        index = replace.chunkIndex;
      }
      const insert = db.prepare(
        `INSERT INTO session_chunks (id, session_id, chunk_index, start_seq, start_token, last_seq, content, word_count, start_ms, end_ms, open)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      const fts = db.prepare("INSERT INTO session_chunks_fts (rowid, content) VALUES (?, ?)");
      const vec = db.prepare("INSERT INTO session_chunk_vectors (rid, model_id, vector) VALUES (?, ?, ?)");
      chunks.forEach(({ draft, vector }, i) => {
        const open = i === chunks.length - 1 ? 1 : 0;
        const rid = Number(insert.run(...sessionChunkValues(sessionId, index, draft), open).lastInsertRowid);
        fts.run(rid, draft.content);
        if (vector) vec.run(rid, vector.modelId, toBlob(vector.vector));
        index++;
      });
      db.prepare("UPDATE sessions SET next_chunk = ?, updated_ms = ? WHERE session_id = ?").run(
        index,
        Date.now(),
        sessionId,
      );
    }).immediate();
  }

  private deleteChunkRids(rows: { rid: number }[]): void {
    const delFts = this.db.prepare("DELETE FROM session_chunks_fts WHERE rowid = ?");
    const delVec = this.db.prepare("DELETE FROM session_chunk_vectors WHERE rid = ?");
    const delChunk = this.db.prepare("DELETE FROM session_chunks WHERE rid = ?");
    for (const { rid } of rows) {
      delFts.run(rid);
      delVec.run(rid);
      delChunk.run(rid);
    }
  }

  async keywordSearch(terms: string[], k: number, filters: SessionFilters): Promise<SearchHit[]> {
    if (!terms.length) return [];
    const match = terms.map((t) => `"${t.replace(/"/g, '""')}"`).join(" OR ");
    const where = chunkFilters(filters);
    return this.db
      .prepare(
        `SELECT c.id, -bm25(session_chunks_fts) AS score
         FROM session_chunks_fts JOIN session_chunks c ON c.rid = session_chunks_fts.rowid
         JOIN sessions s ON s.session_id = c.session_id
         WHERE session_chunks_fts MATCH @match AND ${where.sql}
         ORDER BY bm25(session_chunks_fts) LIMIT @k`,
      )
      .all({ ...where.params, match, k }) as SearchHit[];
  }

  async vectorSearch(
    vector: Float32Array,
    modelId: string,
    k: number,
    filters: SessionFilters,
  ): Promise<SearchHit[]> {
    const where = chunkFilters(filters);
    // Exact scan: sessions hold thousands of chunks, not millions (retention prunes them).
    const hits: SearchHit[] = [];
    const rows = this.db
      .prepare(
        `SELECT c.id, v.vector FROM session_chunk_vectors v JOIN session_chunks c ON c.rid = v.rid
         JOIN sessions s ON s.session_id = c.session_id WHERE v.model_id = @model AND ${where.sql}`,
      )
      .iterate({ ...where.params, model: modelId }) as Iterable<{ id: string; vector: Buffer }>;
    for (const r of rows) {
      const v = fromBlob(r.vector);
      if (v.length === vector.length) hits.push({ id: r.id, score: dot(vector, v) });
    }
    return hits.sort((a, b) => b.score - a.score).slice(0, k);
  }

  async getChunks(ids: string[]): Promise<SessionChunk[]> {
    if (!ids.length) return [];
    const rows = this.db
      .prepare(
        `SELECT ${SESSION_CHUNK_COLUMNS}
         FROM session_chunks c JOIN sessions s ON s.session_id = c.session_id WHERE c.id IN (SELECT value FROM json_each(?))`,
      )
      .all(JSON.stringify(ids)) as SessionChunkRow[];
    const byId = new Map(rows.map((r) => [r.id, toSessionChunk(r)]));
    return ids.flatMap((id) => byId.get(id) ?? []);
  }

  async chunksMissingVectors(modelId: string, limit: number): Promise<{ id: string; content: string }[]> {
    return this.db
      .prepare(
        `SELECT c.id, c.content FROM session_chunks c LEFT JOIN session_chunk_vectors v ON v.rid = c.rid
         WHERE v.rid IS NULL OR v.model_id != ? ORDER BY c.rid LIMIT ?`,
      )
      .all(modelId, limit) as { id: string; content: string }[];
  }

  async putChunkVectors(modelId: string, items: { id: string; vector: Float32Array }[]): Promise<void> {
    const rid = this.db.prepare("SELECT rid FROM session_chunks WHERE id = ?");
    const put = this.db.prepare(
      "INSERT INTO session_chunk_vectors (rid, model_id, vector) VALUES (?, ?, ?) ON CONFLICT(rid) DO UPDATE SET model_id = excluded.model_id, vector = excluded.vector",
    );
    this.db
      .transaction(() => {
        for (const item of items) {
          const row = rid.get(item.id) as { rid: number } | undefined;
          if (row) put.run(row.rid, modelId, toBlob(item.vector));
        }
      })
      .immediate();
  }

  async deleteOlderThan(cutoffMs: number): Promise<{ messages: number; chunks: number }> {
    const db = this.db;
    return db
      .transaction(() => {
        const old = db.prepare("SELECT rid FROM session_chunks WHERE end_ms < ?").all(cutoffMs) as {
          rid: number;
        }[];
        this.deleteChunkRids(old);
        // Messages still inside the open chunk are needed to re-chunk it; older ones can go.
        const messages = db
          .prepare(
            `DELETE FROM session_messages WHERE ts_ms < @cutoff AND NOT EXISTS (
             SELECT 1 FROM session_chunks c WHERE c.session_id = session_messages.session_id AND c.open = 1 AND c.start_seq <= session_messages.seq)`,
          )
          .run({ cutoff: cutoffMs }).changes;
        db.prepare(
          `DELETE FROM sessions WHERE updated_ms < ? AND NOT EXISTS (SELECT 1 FROM session_messages m WHERE m.session_id = sessions.session_id)
         AND NOT EXISTS (SELECT 1 FROM session_chunks c WHERE c.session_id = sessions.session_id)`,
        ).run(cutoffMs);
        return { messages, chunks: old.length };
      })
      .immediate();
  }

  async stats(): Promise<SessionStats> {
    const n = (sql: string) => (this.db.prepare(sql).get() as { n: number }).n;
    return {
      sessions: n("SELECT count(*) AS n FROM sessions"),
      messages: n("SELECT count(*) AS n FROM session_messages"),
      chunks: n("SELECT count(*) AS n FROM session_chunks"),
      embedded_chunks: n("SELECT count(*) AS n FROM session_chunk_vectors"),
    };
  }
}

/** Cosine similarity of two L2-normalised vectors. */
function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

function chunkFilters(f: SessionFilters): { sql: string; params: Record<string, unknown> } {
  const parts: string[] = ["1"];
  const params: Record<string, unknown> = {};
  if (f.sessionId) {
    parts.push("c.session_id = @f_session");
    params.f_session = f.sessionId;
  }
  if (f.instanceId) {
    parts.push("s.instance_id = @f_instance");
    params.f_instance = f.instanceId;
  }
  if (f.after !== undefined) {
    parts.push("c.end_ms >= @f_after");
    params.f_after = f.after;
  }
  if (f.before !== undefined) {
    parts.push("c.start_ms < @f_before");
    params.f_before = f.before;
  }
  return { sql: parts.join(" AND "), params };
}
