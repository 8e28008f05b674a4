import type { SessionIngestBody, SessionMessageInput } from "@tribalmemory/shared/sessions/schemas";
import type { SessionIngestOutcome } from "@tribalmemory/shared/sessions/session-service";
import type Database from "better-sqlite3";
import type { Logger } from "pino";

/**
 * Session transcripts shared through the relay, only when `sync.enabled && sync.sessions`.
 *
 * Push: after a local ingest (watcher or API) the messages past the session's pushed offset
 * (kept in SQLite per relay and session) are POSTed to the relay's `/v1/sessions/ingest`.
 * Every message carries its id or index, so the relay's ingest is idempotent and a retry after
 * a lost answer is harmless. Pull: `GET /v1/sessions/messages?after=<cursor>` returns what
 * other devices sent; it is ingested through the local service (idempotent as well) and the
 * cursor advances. Both run in one background loop, off the ingest path, with backoff.
 */

export const SESSION_SYNC_SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS session_sync_pushed (
  relay TEXT NOT NULL,
  session_id TEXT NOT NULL,
  pushed_seq INTEGER NOT NULL,
  PRIMARY KEY (relay, session_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS session_sync_state (
  relay TEXT PRIMARY KEY,
  cursor INTEGER NOT NULL
);
`;

export const DEVICE_HEADER = "x-tribal-device";

export interface SessionSyncOptions {
  db: Database.Database;
  /** The local ingest, without the push hook (pulled messages are not sent back). */
  ingestLocal: (body: SessionIngestBody) => Promise<SessionIngestOutcome>;
  cloudUrl: string;
  apiKey: string;
  /** This daemon's sync device id: the relay leaves its own messages out of pulls. */
  device: string;
  log: Logger;
  /** Pull period while healthy, ms. */
  intervalMs?: number;
  backoffMinMs?: number;
  backoffMaxMs?: number;
  /** Messages per request. */
  batch?: number;
}

export interface SessionSyncStatus {
  enabled: true;
  pushed: number;
  pulled: number;
  cursor: number;
  last_error: { message: string; at: string } | null;
  last_sync_at: string | null;
}

interface PulledMessage {
  cursor: number;
  session_id: string;
  instance_id: string;
  source: string | null;
  role: string;
  content: string;
  timestamp: string;
  id?: string;
  index?: number;
}

/** Most bytes of message content in one push request (the relay accepts 64 MiB). */
const MAX_PUSH_BYTES = 8 * 1024 * 1024;

export class SessionSync {
  private readonly o: Required<SessionSyncOptions>;
  private readonly relay: string;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = true;
  private attempt = 0;
  private pushed = 0;
  private pulled = 0;
  private lastError: SessionSyncStatus["last_error"] = null;
  private lastSyncAt: string | null = null;
  private readonly stmts;

  constructor(options: SessionSyncOptions) {
    this.o = {
      intervalMs: 10_000,
      backoffMinMs: 250,
      batch: 200,
      ...options,
      backoffMaxMs: options.backoffMaxMs ?? 30_000,
    };
    this.relay = options.cloudUrl.replace(/\/$/, "");
    const db = options.db;
    db.exec(SESSION_SYNC_SCHEMA_SQL);
    this.stmts = {
      pending: db.prepare(
        `SELECT s.session_id, s.instance_id, s.source, s.next_seq, coalesce(p.pushed_seq, 0) AS pushed
         FROM sessions s LEFT JOIN session_sync_pushed p ON p.relay = ? AND p.session_id = s.session_id
         WHERE s.next_seq > coalesce(p.pushed_seq, 0) ORDER BY s.updated_ms`,
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
      getCursor: db.prepare("SELECT cursor FROM session_sync_state WHERE relay = ?"),
      setCursor: db.prepare(
        "INSERT INTO session_sync_state (relay, cursor) VALUES (?, ?) ON CONFLICT(relay) DO UPDATE SET cursor = excluded.cursor",
      ),
    };
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running?.catch(() => undefined);
  }

  /** A local ingest stored messages: push soon, never inside the caller's ingest. */
  notify(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    // During a backoff the retry timer stays: a failing relay is not hammered by each ingest.
    if (this.attempt === 0) this.schedule(0);
  }

  status(): SessionSyncStatus {
    return {
      enabled: true,
      pushed: this.pushed,
      pulled: this.pulled,
      cursor: this.cursor(),
      last_error: this.lastError,
      last_sync_at: this.lastSyncAt,
    };
  }

  private cursor(): number {
    return (this.stmts.getCursor.get(this.relay) as { cursor: number } | undefined)?.cursor ?? 0;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.run();
    }, delayMs);
    this.timer.unref();
  }

  private run(): void {
    if (this.stopped || this.running) return;
    this.again = false;
    this.running = (async () => {
      try {
        await this.pushAll();
        await this.pullAll();
        if (this.attempt > 0) this.o.log.info("session sync reconnected");
        this.attempt = 0;
        this.lastSyncAt = new Date().toISOString();
        this.running = null;
        this.schedule(this.again ? 0 : this.o.intervalMs);
      } catch (err) {
        this.lastError = { message: (err as Error).message, at: new Date().toISOString() };
        this.o.log.warn({ err: (err as Error).message }, "session sync failed; retrying");
        // Exponential backoff with full jitter; the next success pulls at once (reconnect).
        const ceiling = Math.min(this.o.backoffMaxMs, this.o.backoffMinMs * 2 ** Math.min(this.attempt, 16));
        this.attempt++;
        this.running = null;
        this.schedule(this.o.backoffMinMs / 2 + Math.random() * ceiling);
      }
    })();
  }

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.relay}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${this.o.apiKey}`,
        [DEVICE_HEADER]: this.o.device,
        ...(body !== undefined ? { "content-type": "application/json" } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(60_000),
    });
    const text = await res.text();
    if (!res.ok) {
      let detail = text.slice(0, 300);
      try {
        const e = (JSON.parse(text) as { error?: { code: string; message: string } }).error;
        if (e) detail = `${e.code}: ${e.message}`;
      } catch {}
      throw new Error(`relay answered ${res.status} to ${method} ${path.split("?")[0]} (${detail})`);
    }
    return JSON.parse(text) as T;
  }

  private async pushAll(): Promise<void> {
    const pending = this.stmts.pending.all(this.relay) as {
      session_id: string;
      instance_id: string;
      source: string | null;
      next_seq: number;
      pushed: number;
    }[];
    for (const s of pending) {
      let from = s.pushed;
      while (!this.stopped && from < s.next_seq) {
        const rows = this.stmts.messages.all(s.session_id, from, this.o.batch) as {
          seq: number;
          key: string;
          role: string;
          content: string;
          ts_ms: number;
        }[];
        if (!rows.length) break;
        const messages: SessionMessageInput[] = [];
        let bytes = 0;
        let last = from;
        for (const r of rows) {
          if (messages.length && bytes + r.content.length > MAX_PUSH_BYTES) break;
          bytes += r.content.length;
          messages.push({
            role: r.role,
            content: r.content,
            timestamp: new Date(r.ts_ms).toISOString(),
            ...keyToIdentity(r.key),
          });
          last = r.seq;
        }
        const body: SessionIngestBody = {
          session_id: s.session_id,
          instance_id: s.instance_id,
          messages,
          ...(s.source ? { source: s.source } : {}),
        };
        const outcome = await this.request<{ messages_processed: number }>(
          "POST",
          "/v1/sessions/ingest",
          body,
        );
        this.pushed += outcome.messages_processed;
        from = last + 1;
        this.stmts.setPushed.run(this.relay, s.session_id, from);
      }
    }
  }

  private async pullAll(): Promise<void> {
    for (;;) {
      if (this.stopped) return;
      const after = this.cursor();
      const page = await this.request<{ messages: PulledMessage[]; cursor: number; more: boolean }>(
        "GET",
        `/v1/sessions/messages?after=${after}&limit=${this.o.batch}`,
      );
      // Consecutive messages of one session are ingested together, in log order.
      let i = 0;
      while (i < page.messages.length) {
        const first = page.messages[i];
        let j = i;
        while (j < page.messages.length && page.messages[j].session_id === first.session_id) j++;
        await this.ingestPulled(first, page.messages.slice(i, j));
        i = j;
      }
      if (page.cursor !== after) this.stmts.setCursor.run(this.relay, page.cursor);
      if (!page.more) return;
    }
  }

  private async ingestPulled(first: PulledMessage, group: PulledMessage[]): Promise<void> {
    const sessionId = first.session_id;
    const seqOf = () =>
      (this.stmts.nextSeq.get(sessionId) as { next_seq: number } | undefined)?.next_seq ?? 0;
    const before = seqOf();
    const pushedBefore =
      (this.stmts.getPushed.get(this.relay, sessionId) as { pushed_seq: number } | undefined)?.pushed_seq ??
      0;
    const outcome = await this.o.ingestLocal({
      session_id: sessionId,
      instance_id: first.instance_id,
      ...(first.source ? { source: first.source } : {}),
      messages: group.map((m) => ({
        role: m.role,
        content: m.content,
        timestamp: m.timestamp,
        ...(m.id !== undefined ? { id: m.id } : {}),
        ...(m.index !== undefined ? { index: m.index } : {}),
      })),
    });
    this.pulled += outcome.messages_processed;
    const after = seqOf();
    // Nothing of ours was waiting and nothing else landed in between: what was just pulled
    // needs no push back. Otherwise it is pushed again, which the relay ignores as duplicates.
    if (pushedBefore >= before && after - before === outcome.messages_processed)
      this.stmts.setPushed.run(this.relay, sessionId, after);
  }
}

/**
 * What a stored key was ingested as: `id:X` → id X, `ix:N` → index N, a content hash `h:…`
 * → id `h:…`. Sent to the relay and back, a message keeps one key everywhere after that.
 */
export function keyToIdentity(key: string): { id?: string; index?: number } {
  if (key.startsWith("id:")) return { id: key.slice(3) };
  if (key.startsWith("ix:")) return { index: Number(key.slice(3)) };
  return { id: key };
}
