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
import { type SessionLogMessage, sessionKeyIdentity } from "@tribalmemory/shared/sync/protocol";
import type { RelayDatabase, Sql } from "./database.ts";
import { EVENTS_CHANNEL } from "./pg-log.ts";
import { vectorText } from "./pg-vectors.ts";

class Params {
  readonly values: unknown[] = [];
  add(v: unknown): string {
    this.values.push(v);
    return `$${this.values.length}`;
  }
}

/**
 * Session transcripts of one workspace in Postgres (or PGlite). Every statement runs in
 * `db.tx(workspaceId, …)`, so row-level security scopes it. `device` is recorded on the
 * messages this store inserts: pulls return what OTHER devices sent.
 */
export class PgSessionStore implements SessionStore {
  private readonly db: RelayDatabase;
  readonly workspaceId: string;
  private readonly device: string | null;

  constructor(db: RelayDatabase, workspaceId: string, options: { device?: string | null } = {}) {
    this.db = db;
    this.workspaceId = workspaceId;
    this.device = options.device ?? null;
  }

  private tx<T>(fn: (sql: Sql) => Promise<T>): Promise<T> {
    return this.db.tx(this.workspaceId, fn);
  }

  async appendMessages(
    sessionId: string,
    meta: { instanceId: string; source: string | null },
    messages: NewSessionMessage[],
  ): Promise<{ inserted: StoredSessionMessage[]; duplicates: number }> {
    const ws = this.workspaceId;
    return this.tx(async (sql) => {
      // The head row stays locked until commit: log_seq order is commit order.
      const [head] = await sql.query<{ next_seq: string }>(
        `INSERT INTO session_log_heads (workspace_id) VALUES ($1)
         ON CONFLICT (workspace_id) DO UPDATE SET next_seq = session_log_heads.next_seq RETURNING next_seq`,
        [ws],
      );
      let logSeq = Number(head.next_seq);
      const [s] = await sql.query<{ next_seq: number }>(
        `INSERT INTO sessions (workspace_id, session_id, instance_id, source, updated_ms) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (workspace_id, session_id) DO UPDATE SET updated_ms = EXCLUDED.updated_ms RETURNING next_seq`,
        [ws, sessionId, meta.instanceId, meta.source, Date.now()],
      );
      let seq = s.next_seq;
      const inserted: StoredSessionMessage[] = [];
      let duplicates = 0;
      for (const m of messages) {
        const r = await sql.query(
          `INSERT INTO session_messages (workspace_id, session_id, seq, key, role, content, ts_ms, device_id, log_seq)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (workspace_id, session_id, key) DO NOTHING RETURNING seq`,
          [ws, sessionId, seq, m.key, m.role, m.content, m.timestampMs, this.device, logSeq],
        );
        if (!r.length) {
          duplicates++;
          continue;
        }
        inserted.push({ seq, role: m.role, content: m.content, timestampMs: m.timestampMs });
        seq++;
        logSeq++;
      }
      await sql.query("UPDATE sessions SET next_seq = $3 WHERE workspace_id = $1 AND session_id = $2", [
        ws,
        sessionId,
        seq,
      ]);
      await sql.query("UPDATE session_log_heads SET next_seq = $2 WHERE workspace_id = $1", [ws, logSeq]);
      // Delivered at commit: every relay process wakes this workspace's session streams.
      if (inserted.length)
        await sql.query("SELECT pg_notify($1, $2)", [EVENTS_CHANNEL, `s:${ws}:${logSeq - 1}`]);
      return { inserted, duplicates };
    });
  }

  async openChunk(sessionId: string): Promise<StoredChunkRef | null> {
    const [row] = await this.tx((sql) =>
      sql.query<{ id: string; chunk_index: number; start_seq: number; start_token: number }>(
        "SELECT id, chunk_index, start_seq, start_token FROM session_chunks WHERE workspace_id = $1 AND session_id = $2 AND open",
        [this.workspaceId, sessionId],
      ),
    );
    return row
      ? { id: row.id, chunkIndex: row.chunk_index, start: { seq: row.start_seq, token: row.start_token } }
      : null;
  }

  async messagesFrom(sessionId: string, seq: number): Promise<StoredSessionMessage[]> {
    const rows = await this.tx((sql) =>
      sql.query<{ seq: number; role: string; content: string; ts_ms: string | number }>(
        "SELECT seq, role, content, ts_ms FROM session_messages WHERE workspace_id = $1 AND session_id = $2 AND seq >= $3 ORDER BY seq",
        [this.workspaceId, sessionId, seq],
      ),
    );
    return rows.map((r) => ({ seq: r.seq, role: r.role, content: r.content, timestampMs: Number(r.ts_ms) }));
  }

  async replaceTail(
    sessionId: string,
    replace: StoredChunkRef | null,
    chunks: { draft: SessionChunkDraft; vector: { modelId: string; vector: Float32Array } | null }[],
  ): Promise<void> {
    const ws = this.workspaceId;
    await this.tx(async (sql) => {
      const [s] = await sql.query<{ next_chunk: number }>(
        "SELECT next_chunk FROM sessions WHERE workspace_id = $1 AND session_id = $2 FOR UPDATE",
        [ws, sessionId],
      );
      let index = s?.next_chunk ?? 0;
      if (replace) {
        await sql.query("DELETE FROM session_chunks WHERE workspace_id = $1 AND id = $2", [ws, replace.id]);
        index = replace.chunkIndex;
      }
      for (let i = 0; i < chunks.length; i++) {
        const { draft, vector } = chunks[i];
        await sql.query(
          `INSERT INTO session_chunks (workspace_id, id, session_id, chunk_index, start_seq, start_token, last_seq, content,
             word_count, start_ms, end_ms, open, embedding, embedding_model, embedding_dims)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::vector, $14, $15)
           ON CONFLICT (workspace_id, id) DO UPDATE SET start_seq = EXCLUDED.start_seq, start_token = EXCLUDED.start_token,
             last_seq = EXCLUDED.last_seq, content = EXCLUDED.content, word_count = EXCLUDED.word_count,
             start_ms = EXCLUDED.start_ms, end_ms = EXCLUDED.end_ms, open = EXCLUDED.open, embedding = EXCLUDED.embedding,
             embedding_model = EXCLUDED.embedding_model, embedding_dims = EXCLUDED.embedding_dims`,
          [
            ws,
            ...sessionChunkValues(sessionId, index, draft),
            i === chunks.length - 1,
            vector ? vectorText(vector.vector) : null,
            vector?.modelId ?? null,
            vector ? vector.vector.length : null,
          ],
        );
        index++;
      }
      await sql.query(
        "UPDATE sessions SET next_chunk = $3, updated_ms = $4 WHERE workspace_id = $1 AND session_id = $2",
        [ws, sessionId, index, Date.now()],
      );
    });
  }

  async keywordSearch(terms: string[], k: number, filters: SessionFilters): Promise<SearchHit[]> {
    if (!terms.length) return [];
    const p = new Params();
    const where = this.filterSql(filters, p);
    // OR of the terms, never one phrase: each term is its own plainto_tsquery.
    const query = terms.map((t) => `plainto_tsquery('english', ${p.add(t)})`).join(" || ");
    return this.tx((sql) =>
      sql.query<{ id: string; score: number }>(
        `SELECT c.id, ts_rank(c.tsv, q)::float8 AS score
         FROM session_chunks c JOIN sessions s ON s.workspace_id = c.workspace_id AND s.session_id = c.session_id,
           (SELECT ${query} AS q) qq
         WHERE ${where} AND c.tsv @@ q ORDER BY score DESC, c.id LIMIT ${p.add(k)}`,
        p.values,
      ),
    );
  }

  async vectorSearch(
    vector: Float32Array,
    modelId: string,
    k: number,
    filters: SessionFilters,
  ): Promise<SearchHit[]> {
    const p = new Params();
    const where = this.filterSql(filters, p);
    const d = vector.length;
    const v = p.add(vectorText(vector));
    // Exact scan: retention keeps session chunks to thousands per workspace, not millions.
    const rows = await this.tx((sql) =>
      sql.query<{ id: string; dist: number }>(
        `SELECT c.id, (c.embedding::vector(${d}) <=> ${v}::vector(${d}))::float8 AS dist
         FROM session_chunks c JOIN sessions s ON s.workspace_id = c.workspace_id AND s.session_id = c.session_id
         WHERE ${where} AND c.embedding_dims = ${d} AND c.embedding_model = ${p.add(modelId)}
         ORDER BY dist LIMIT ${p.add(k)}`,
        p.values,
      ),
    );
    return rows.map((r) => ({ id: r.id, score: 1 - r.dist }));
  }

  private filterSql(f: SessionFilters, p: Params): string {
    const parts = [`c.workspace_id = ${p.add(this.workspaceId)}`];
    if (f.sessionId) parts.push(`c.session_id = ${p.add(f.sessionId)}`);
    if (f.instanceId) parts.push(`s.instance_id = ${p.add(f.instanceId)}`);
    if (f.after !== undefined) parts.push(`c.end_ms >= ${p.add(Math.floor(f.after))}`);
    if (f.before !== undefined) parts.push(`c.start_ms < ${p.add(Math.ceil(f.before))}`);
    return parts.join(" AND ");
  }

  async getChunks(ids: string[]): Promise<SessionChunk[]> {
    if (!ids.length) return [];
    const rows = await this.tx((sql) =>
      sql.query<SessionChunkRow>(
        `SELECT ${SESSION_CHUNK_COLUMNS}
         FROM session_chunks c JOIN sessions s ON s.workspace_id = c.workspace_id AND s.session_id = c.session_id
         WHERE c.workspace_id = $1 AND c.id = ANY($2::text[])`,
        [this.workspaceId, ids],
      ),
    );
    const byId = new Map(rows.map((r) => [r.id, toSessionChunk(r)]));
    return ids.flatMap((id) => byId.get(id) ?? []);
  }

  async chunksMissingVectors(modelId: string, limit: number): Promise<{ id: string; content: string }[]> {
    return this.tx((sql) =>
      sql.query<{ id: string; content: string }>(
        `SELECT id, content FROM session_chunks WHERE workspace_id = $1
         AND (embedding IS NULL OR embedding_model IS DISTINCT FROM $2) ORDER BY id LIMIT $3`,
        [this.workspaceId, modelId, limit],
      ),
    );
  }

  async putChunkVectors(modelId: string, items: { id: string; vector: Float32Array }[]): Promise<void> {
    await this.tx(async (sql) => {
      for (const item of items) {
        await sql.query(
          "UPDATE session_chunks SET embedding = $3::vector, embedding_model = $4, embedding_dims = $5 WHERE workspace_id = $1 AND id = $2",
          [this.workspaceId, item.id, vectorText(item.vector), modelId, item.vector.length],
        );
      }
    });
  }

  async deleteOlderThan(cutoffMs: number): Promise<{ messages: number; chunks: number }> {
    const ws = this.workspaceId;
    return this.tx(async (sql) => {
      const chunks = await sql.query(
        "DELETE FROM session_chunks WHERE workspace_id = $1 AND end_ms < $2 RETURNING id",
        [ws, cutoffMs],
      );
      // Messages still inside the open chunk are needed to re-chunk it; older ones can go.
      const messages = await sql.query(
        `DELETE FROM session_messages m WHERE m.workspace_id = $1 AND m.ts_ms < $2 AND NOT EXISTS (
           SELECT 1 FROM session_chunks c WHERE c.workspace_id = m.workspace_id AND c.session_id = m.session_id
             AND c.open AND c.start_seq <= m.seq) RETURNING seq`,
        [ws, cutoffMs],
      );
      await sql.query(
        `DELETE FROM sessions s WHERE s.workspace_id = $1 AND s.updated_ms < $2
         AND NOT EXISTS (SELECT 1 FROM session_messages m WHERE m.workspace_id = s.workspace_id AND m.session_id = s.session_id)
         AND NOT EXISTS (SELECT 1 FROM session_chunks c WHERE c.workspace_id = s.workspace_id AND c.session_id = s.session_id)`,
        [ws, cutoffMs],
      );
      return { messages: messages.length, chunks: chunks.length };
    });
  }

  async stats(): Promise<SessionStats> {
    const [r] = await this.tx((sql) =>
      sql.query<SessionStats>(
        `SELECT (SELECT count(*) FROM sessions WHERE workspace_id = $1)::int AS sessions,
                (SELECT count(*) FROM session_messages WHERE workspace_id = $1)::int AS messages,
                (SELECT count(*) FROM session_chunks WHERE workspace_id = $1)::int AS chunks,
                (SELECT count(*) FROM session_chunks WHERE workspace_id = $1 AND embedding IS NOT NULL)::int AS embedded_chunks`,
        [this.workspaceId],
      ),
    );
    return r;
  }

  /** The last seq of the workspace's session log (0 when empty). */
  async head(): Promise<number> {
    const [row] = await this.tx((sql) =>
      sql.query<{ next_seq: string }>("SELECT next_seq FROM session_log_heads WHERE workspace_id = $1", [
        this.workspaceId,
      ]),
    );
    return row ? Number(row.next_seq) - 1 : 0;
  }

  /**
   * Messages after `cursor` in the workspace's session log that another device sent (or the
   * relay's own API), oldest first. The returned cursor covers skipped rows of `device` too.
   */
  async readLog(
    cursor: number,
    limit: number,
    device: string | null,
    options: { maxBytes?: number } = {},
  ): Promise<{ messages: SessionLogMessage[]; cursor: number; more: boolean }> {
    return this.tx(async (sql) => {
      // The committed head first: rows past it (committing now) are left for the next pull.
      const [head] = await sql.query<{ next_seq: string }>(
        "SELECT next_seq FROM session_log_heads WHERE workspace_id = $1",
        [this.workspaceId],
      );
      const end = head ? Number(head.next_seq) : 1;
      const rows = await sql.query<{
        log_seq: string;
        session_id: string;
        instance_id: string;
        source: string | null;
        key: string;
        role: string;
        content: string;
        ts_ms: string;
      }>(
        `SELECT m.log_seq, m.session_id, s.instance_id, s.source, m.key, m.role, m.content, m.ts_ms
         FROM session_messages m JOIN sessions s ON s.workspace_id = m.workspace_id AND s.session_id = m.session_id
         WHERE m.workspace_id = $1 AND m.log_seq > $2 AND m.log_seq < $3 AND m.device_id IS DISTINCT FROM $4
         ORDER BY m.log_seq LIMIT $5`,
        [this.workspaceId, cursor, end, device, limit + 1],
      );
      let more = rows.length > limit;
      let page = rows.slice(0, limit);
      if (options.maxBytes !== undefined) {
        // Bounded in bytes too (a socket frame holds a page): always at least one message.
        let total = 0;
        const fit = page.findIndex((r, i) => {
          total += Buffer.byteLength(JSON.stringify(r.content)) + 256;
          return i > 0 && total > (options.maxBytes as number);
        });
        if (fit > 0) {
          page = page.slice(0, fit);
          more = true;
        }
      }
      const next = more ? Number(page.at(-1)?.log_seq) : Math.max(cursor, end - 1);
      return {
        messages: page.map((r) => ({
          cursor: Number(r.log_seq),
          session_id: r.session_id,
          instance_id: r.instance_id,
          source: r.source,
          role: r.role,
          content: r.content,
          timestamp: new Date(Number(r.ts_ms)).toISOString(),
          ...sessionKeyIdentity(r.key),
        })),
        cursor: next,
        more,
      };
    });
  }
}
