import type { SessionIngestBody, SessionMessageInput } from "@tribalmemory/shared/sessions/schemas";
import type { SessionIngestOutcome } from "@tribalmemory/shared/sessions/session-service";
import { type SessionLogMessage, sessionKeyIdentity } from "@tribalmemory/shared/sync/protocol";
import type { SqliteSessionSyncStore } from "../store/session-sync-store.ts";

/**
 * Session transcripts as the second stream of the sync socket (only with `sync.enabled &&
 * sync.sessions`; see shared/src/sync/protocol.ts). The SyncClient owns the transport,
 * reconnects, backoff and flow control; this says what to push and how to apply what arrives.
 *
 * Push: one session's messages past its acknowledged offset. Every message carries its id or
 * index, so the relay's ingest is idempotent and a resend after a lost ack is harmless.
 * Receive: other devices' messages, ingested through the local service (idempotent as well),
 * then the cursor advances: a crash in between repeats messages, which are ignored.
 */

export interface SessionStreamStatus {
  enabled: true;
  pushed: number;
  pulled: number;
  cursor: number;
  last_error: { code: string; message: string; at: string } | null;
  last_sync_at: string | null;
}

export interface SessionPush {
  body: SessionIngestBody;
  sessionId: string;
  /** Acknowledged, messages below this local seq are on the relay. */
  upTo: number;
}

/** Messages per push, as the HTTP pusher sent. */
const PUSH_MESSAGES = 200;

export class SessionStream {
  private readonly store: SqliteSessionSyncStore;
  /** The local ingest, without the push hook (received messages are not sent back). */
  private readonly ingestLocal: (body: SessionIngestBody) => Promise<SessionIngestOutcome>;
  private pushed = 0;
  private pulled = 0;
  private lastError: SessionStreamStatus["last_error"] = null;
  private lastSyncAt: string | null = null;

  constructor(options: {
    store: SqliteSessionSyncStore;
    ingestLocal: (body: SessionIngestBody) => Promise<SessionIngestOutcome>;
  }) {
    this.store = options.store;
    this.ingestLocal = options.ingestLocal;
  }

  cursor(): number {
    return this.store.cursor();
  }

  /** The next delta to push, within `maxBytes` of content (at least one message); null when none. */
  nextPush(maxBytes: number): SessionPush | null {
    const s = this.store.nextPending();
    if (!s) return null;
    const rows = this.store.messagesFrom(s.session_id, s.pushed, PUSH_MESSAGES);
    if (!rows.length) {
      // The counter ran ahead of the rows (retention pruned them): nothing left to send.
      this.store.setPushed(s.session_id, s.next_seq);
      return this.nextPush(maxBytes);
    }
    const messages: SessionMessageInput[] = [];
    let bytes = 0;
    let upTo = s.pushed;
    for (const r of rows) {
      // As sent: JSON escaping can grow control-character-heavy tool output sixfold.
      const size = Buffer.byteLength(JSON.stringify(r.content)) + 256;
      if (messages.length && bytes + size > maxBytes) break;
      bytes += size;
      messages.push({
        role: r.role,
        content: r.content,
        timestamp: new Date(r.ts_ms).toISOString(),
        ...sessionKeyIdentity(r.key),
      });
      upTo = r.seq + 1;
    }
    return {
      sessionId: s.session_id,
      upTo,
      body: {
        session_id: s.session_id,
        instance_id: s.instance_id,
        messages,
        ...(s.source ? { source: s.source } : {}),
      },
    };
  }

  /** The relay acknowledged a push (stored or duplicates): never sent again. */
  acknowledged(push: SessionPush, messagesProcessed: number): void {
    this.store.setPushed(push.sessionId, push.upTo);
    this.pushed += messagesProcessed;
    this.lastError = null;
    this.lastSyncAt = new Date().toISOString();
  }

  /**
   * Apply a batch of other devices' messages, then move the cursor. Returns "gap" when a
   * batch before this one is missing (the caller reconnects from the cursor), "stale" when it
   * was applied already.
   */
  async apply(
    messages: SessionLogMessage[],
    from: number,
    cursor: number,
  ): Promise<"applied" | "stale" | "gap"> {
    const current = this.store.cursor();
    if (from > current) return "gap";
    if (cursor <= current) return "stale";
    // Consecutive messages of one session are ingested together, in log order.
    let i = 0;
    while (i < messages.length) {
      const first = messages[i];
      let j = i;
      while (j < messages.length && messages[j].session_id === first.session_id) j++;
      await this.ingestReceived(first, messages.slice(i, j));
      i = j;
    }
    this.store.setCursor(cursor);
    this.lastError = null;
    this.lastSyncAt = new Date().toISOString();
    return "applied";
  }

  private async ingestReceived(first: SessionLogMessage, group: SessionLogMessage[]): Promise<void> {
    const sessionId = first.session_id;
    const before = this.store.nextSeq(sessionId);
    const pushedBefore = this.store.pushedSeq(sessionId);
    const outcome = await this.ingestLocal({
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
    const after = this.store.nextSeq(sessionId);
    // Nothing of ours was waiting and nothing else landed in between: what was just received
    // needs no push back. Otherwise it is pushed again, which the relay ignores as duplicates.
    if (pushedBefore >= before && after - before === outcome.messages_processed)
      this.store.setPushed(sessionId, after);
  }

  /** A push or apply failed; the client retries on its timer or after reconnecting. */
  setError(code: string, message: string): void {
    this.lastError = { code, message, at: new Date().toISOString() };
  }

  status(): SessionStreamStatus {
    return {
      enabled: true,
      pushed: this.pushed,
      pulled: this.pulled,
      cursor: this.store.cursor(),
      last_error: this.lastError,
      last_sync_at: this.lastSyncAt,
    };
  }
}
