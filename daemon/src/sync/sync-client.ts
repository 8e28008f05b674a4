import { type ErrorCode, TribalError } from "@tribalmemory/shared/errors";
import type { MemoryService } from "@tribalmemory/shared/service/memory-service";
import {
  MAX_SYNC_MESSAGE_BYTES,
  PERMANENT_CHANGE_ERRORS,
  type PushResult,
  type ServerMessage,
  SYNC_PROTOCOL_VERSION,
  syncPageBudget,
  type WireChange,
} from "@tribalmemory/shared/sync/protocol";
import { checkRelayUrl } from "@tribalmemory/shared/sync/relay-url";
import type { Logger } from "pino";
import WebSocket from "ws";
import type { SqliteMemoryStore } from "../store/sqlite-store.ts";
import {
  type DeadLetter,
  deadLetter,
  deadLetterCount,
  docIdsOfChanges,
  getSyncState,
  listDeadLetters,
  markSynced,
  outboxLength,
  purgeLocal,
  readOutboxPage,
  setSyncState,
  syncCursor,
} from "../store/sync-log-store.ts";
import type { SessionPush, SessionStream } from "./session-stream.ts";
import { applyRelayBatch, helloSnapshotField } from "./snapshot-apply.ts";
import { purgeDeletedWorkspace } from "./workspace-deletion.ts";

export interface SyncClientOptions {
  store: SqliteMemoryStore;
  service: MemoryService;
  actor: string;
  /** Relay base URL (http(s)://…); the socket is at /v1/sync. */
  cloudUrl: string;
  apiKey: string;
  log: Logger;
  /** Changes per push message. */
  pushBatch?: number;
  /** Reconnect backoff bounds, ms (jittered). */
  backoffMinMs?: number;
  backoffMaxMs?: number;
  /** Periodic flush + heartbeat while connected, ms. */
  tickMs?: number;
  /** No ack for a push in this long → the socket is presumed dead and reopened. */
  ackTimeoutMs?: number;
  /**
   * Send the API key over http:// or ws:// to a relay off loopback (`sync.allow_insecure`).
   * Without it such a URL is refused before any connection: SYNC_INSECURE_URL.
   */
  allowInsecure?: boolean;
}

export interface SyncStatus {
  enabled: true;
  relay: string;
  device: string;
  /**
   * refused: the relay URL is not allowed (last_error says why); nothing is sent.
   * workspace_deleted: the relay deleted the workspace; what was synced with it is purged here
   * and sync is stopped (last_error: WORKSPACE_DELETED).
   */
  state: "connecting" | "backlog" | "live" | "offline" | "refused" | "workspace_deleted";
  cursor: number;
  outbox: number;
  /** Changes the relay refused for good, set aside so the outbox keeps moving. */
  dead_letters: { count: number; recent: DeadLetter[] };
  last_error: { code: string; message: string; at: string } | null;
  last_sync_at: string | null;
  pushed: number;
  received: number;
}

/**
 * The daemon's sync client, the one sync engine: one socket, one reconnect backoff, one timer
 * for memory changes and (when attached) session transcripts. Never blocks an agent: writes
 * commit locally and enter the outbox; the client pushes on every write (notifyWrite), on
 * every (re)connect and on a timer, and applies what the relay streams in one SQLite
 * transaction per batch, cursor included.
 */
export class SyncClient {
  private readonly o: Required<Omit<SyncClientOptions, "log" | "store" | "service">> & SyncClientOptions;
  private ws: WebSocket | null = null;
  private state: SyncStatus["state"] = "offline";
  private stopped = true;
  private attempt = 0;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private ticker: NodeJS.Timeout | null = null;
  private pushing: { id: number; hashes: string[]; timer: NodeJS.Timeout } | null = null;
  /** A refusal named no change: push one at a time until the refused one is found. */
  private probing = false;
  private pushAgain = false;
  private nextPushId = 1;
  private applyQueue: Promise<void> = Promise.resolve();
  private lastError: SyncStatus["last_error"] = null;
  private pushed = 0;
  private received = 0;
  private backfilling = false;
  /** Last frame from the relay: a socket silent for 3 ticks (pings unanswered) is reopened. */
  private lastHeard = 0;
  private readonly liveWaiters: (() => void)[] = [];
  /** The session stream (sync.sessions), and its push awaiting an ack. */
  private sessions: SessionStream | null = null;
  private sessionPushing: { id: number; push: SessionPush; timer: NodeJS.Timeout } | null = null;
  /** Set once the relay said the workspace was deleted: the purge, then sync stays stopped. */
  private deletion: Promise<void> | null = null;

  constructor(options: SyncClientOptions) {
    this.o = {
      pushBatch: 200,
      backoffMinMs: 250,
      tickMs: 5_000,
      ackTimeoutMs: 30_000,
      allowInsecure: false,
      ...options,
      backoffMaxMs: options.backoffMaxMs ?? 30_000,
    };
  }

  get device(): string {
    return this.o.actor;
  }

  /** Share session transcripts over this client's socket; before start(). */
  attachSessions(stream: SessionStream): void {
    this.sessions = stream;
  }

  start(): void {
    if (!this.stopped) return;
    // Checked before any socket opens: the Bearer key must never leave in plaintext.
    const refusal = checkRelayUrl(this.o.cloudUrl, { allowInsecure: this.o.allowInsecure });
    if (refusal) {
      this.state = "refused";
      this.lastError = { code: refusal.code, message: refusal.message, at: new Date().toISOString() };
      this.o.log.error({ code: refusal.code, relay: this.o.cloudUrl }, refusal.message);
      return;
    }
    this.stopped = false;
    this.ticker = setInterval(() => this.tick(), this.o.tickMs);
    this.ticker.unref();
    this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.ticker) clearInterval(this.ticker);
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.dropPushes();
    const ws = this.ws;
    this.ws = null;
    if (ws && ws.readyState !== WebSocket.CLOSED) {
      await new Promise<void>((resolve) => {
        ws.once("close", () => resolve());
        ws.terminate();
      });
    }
    await this.applyQueue.catch(() => undefined);
    this.state = "offline";
  }

  /** Called after every committed local write: push now, never wait for the next one. */
  notifyWrite(): void {
    queueMicrotask(() => this.flush());
  }

  status(): SyncStatus {
    return {
      enabled: true,
      relay: this.o.cloudUrl,
      device: this.device,
      state: this.state,
      cursor: syncCursor(this.o.store),
      outbox: outboxLength(this.o.store),
      dead_letters: { count: deadLetterCount(this.o.store), recent: listDeadLetters(this.o.store, 20) },
      last_error: this.lastError,
      last_sync_at: getSyncState(this.o.store, "last_sync_at"),
      pushed: this.pushed,
      received: this.received,
    };
  }

  /** Resolves when the client has caught up with the relay's log (tests, bootstrap progress). */
  waitLive(): Promise<void> {
    if (this.state === "live") return Promise.resolve();
    return new Promise((resolve) => this.liveWaiters.push(resolve));
  }

  // ---------------------------------------------------------------- connection

  private connect(): void {
    if (this.stopped || this.ws) return;
    this.state = "connecting";
    const url = `${this.o.cloudUrl.replace(/^http/, "ws").replace(/\/$/, "")}/v1/sync`;
    const ws = new WebSocket(url, {
      headers: { authorization: `Bearer ${this.o.apiKey}` },
      maxPayload: MAX_SYNC_MESSAGE_BYTES,
      handshakeTimeout: 10_000,
    });
    this.ws = ws;
    ws.on("open", () => {
      this.lastHeard = Date.now();
      ws.send(
        JSON.stringify({
          type: "hello",
          protocol: SYNC_PROTOCOL_VERSION,
          device: this.device,
          actor: this.o.actor,
          cursor: syncCursor(this.o.store),
          ...(this.sessions ? { sessions: { cursor: this.sessions.cursor() } } : {}),
          ...helloSnapshotField(),
        }),
      );
    });
    ws.on("unexpected-response", (_req, res) => {
      let body = "";
      res.on("data", (d: Buffer) => {
        body += d.toString();
      });
      res.on("end", () => {
        try {
          const e = (JSON.parse(body) as { error: { code: string; message: string } }).error;
          this.setError(e.code, e.message);
          if (e.code === "WORKSPACE_DELETED") this.workspaceDeleted(e.message);
        } catch {
          this.setError("RELAY_REFUSED", `Relay answered ${res.statusCode} to the sync upgrade.`);
        }
        ws.terminate();
      });
    });
    ws.on("message", (data) => {
      this.lastHeard = Date.now();
      this.onMessage(ws, data.toString());
    });
    ws.on("error", (err) => {
      // The refusal's own code (a revoked key, a deleted workspace) stays the reason shown.
      if (!this.deletion && this.lastError?.code !== "API_KEY_REVOKED")
        this.setError("RELAY_UNREACHABLE", err.message);
    });
    ws.on("close", () => {
      if (this.ws === ws) this.ws = null;
      this.dropPushes();
      this.state = "offline";
      this.scheduleReconnect();
    });
  }

  /** Unacknowledged pushes are forgotten with their socket: their content is resent after reconnecting. */
  private dropPushes(): void {
    if (this.pushing) clearTimeout(this.pushing.timer);
    this.pushing = null;
    if (this.sessionPushing) clearTimeout(this.sessionPushing.timer);
    this.sessionPushing = null;
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.reconnectTimer) return;
    // Exponential backoff with full jitter, so a relay restart is not met by every daemon at once.
    const ceiling = Math.min(this.o.backoffMaxMs, this.o.backoffMinMs * 2 ** Math.min(this.attempt, 16));
    const delay = this.o.backoffMinMs / 2 + Math.random() * ceiling;
    this.attempt++;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.connect();
    }, delay);
    this.reconnectTimer.unref();
  }

  private tick(): void {
    if (this.stopped) return;
    if (!this.ws) {
      if (!this.reconnectTimer) this.connect();
      return;
    }
    if (this.ws.readyState === WebSocket.OPEN) {
      if (this.lastHeard && Date.now() - this.lastHeard > 3 * this.o.tickMs) {
        this.setError("RELAY_SILENT", "The relay stopped answering; reconnecting.");
        this.ws.terminate();
        return;
      }
      this.ws.send(JSON.stringify({ type: "ping" }));
      this.flush();
    }
  }

  /** `code`: one of ERROR_CODES, or a code the relay reported (a newer relay may know more). */
  private setError(code: ErrorCode | (string & {}), message: string): void {
    this.lastError = { code, message, at: new Date().toISOString() };
    this.o.log.warn({ code, message }, "sync error");
  }

  // ---------------------------------------------------------------- messages

  private onMessage(ws: WebSocket, text: string): void {
    let msg: ServerMessage;
    try {
      msg = JSON.parse(text) as ServerMessage;
    } catch {
      return;
    }
    switch (msg.type) {
      case "welcome":
        this.attempt = 0;
        this.state = "backlog";
        this.flush();
        return;
      case "changes":
      case "snapshot":
        // Batches are applied strictly in order; `applied` tells the relay to send more.
        this.applyQueue = this.applyQueue
          .then(async () => {
            const outcome = await this.o.service.writeBeside(async () => {
              const r = applyRelayBatch(this.o.store, this.o.actor, msg);
              return { value: r, touchedIds: r.touchedIds };
            });
            if (outcome.status === "gap")
              throw new TribalError("SYNC_GAP", "A sync batch was missed; resyncing.");
            this.received += outcome.applied;
            setSyncState(this.o.store, "last_sync_at", new Date().toISOString());
            if (ws.readyState === WebSocket.OPEN)
              ws.send(JSON.stringify({ type: "applied", cursor: msg.cursor }));
            if (outcome.needEmbedding) this.backfill();
          })
          .catch((err: Error) => {
            this.setError(err instanceof TribalError ? err.code : "SYNC_APPLY_FAILED", err.message);
            // The cursor did not move: reconnecting replays the batch.
            ws.terminate();
          });
        return;
      case "live":
        this.applyQueue = this.applyQueue.then(() => {
          this.state = "live";
          setSyncState(this.o.store, "last_sync_at", new Date().toISOString());
          for (const w of this.liveWaiters.splice(0)) w();
        });
        return;
      case "ack":
        this.onPushDone(msg.id, msg.results, null);
        return;
      case "sessions": {
        const stream = this.sessions;
        if (!stream) return;
        this.applyQueue = this.applyQueue
          .then(async () => {
            const status = await stream.apply(msg.messages, msg.from, msg.cursor);
            if (status === "gap") throw new TribalError("SYNC_GAP", "A session batch was missed; resyncing.");
            if (ws.readyState === WebSocket.OPEN)
              ws.send(JSON.stringify({ type: "sessions_applied", cursor: msg.cursor }));
          })
          .catch((err: Error) => {
            const code = err instanceof TribalError ? err.code : "SYNC_APPLY_FAILED";
            stream.setError(code, err.message);
            this.setError(code, err.message);
            // The session cursor did not move: reconnecting replays the batch.
            ws.terminate();
          });
        return;
      }
      case "session_ack":
        this.onSessionPushDone(msg.id, msg.messages_processed, null);
        return;
      case "error":
        if (msg.id !== undefined && this.sessionPushing?.id === msg.id) {
          this.onSessionPushDone(msg.id, 0, { code: msg.code, message: msg.message });
        } else if (msg.id !== undefined && this.pushing?.id === msg.id) {
          const accepted = (msg.details?.accepted as PushResult[] | undefined) ?? [];
          this.onPushDone(msg.id, accepted, { code: msg.code, message: msg.message, details: msg.details });
        } else {
          this.setError(msg.code, msg.message);
        }
        return;
      case "pong":
        return;
      case "workspace_deleted":
        this.workspaceDeleted(msg.message);
        return;
    }
  }

  /** The workspace is gone: stop for good, then purge what was synced with it. */
  private workspaceDeleted(message: string): void {
    if (this.deletion) return;
    this.setError("WORKSPACE_DELETED", message);
    this.deletion = this.stop()
      .then(() => purgeDeletedWorkspace(this.o.store, this.o.service))
      .then((purged) =>
        this.o.log.warn({ purged }, "sync: the workspace was deleted; its memories are purged here"),
      )
      .catch((err) =>
        this.o.log.error({ err: (err as Error).message }, "sync: purging the deleted workspace failed"),
      )
      .finally(() => {
        this.state = "workspace_deleted";
      });
  }

  // ---------------------------------------------------------------- pushing

  /** Push what waits on every stream whose previous push has its answer. */
  private flush(): void {
    const ws = this.ws;
    if (this.stopped || !ws || ws.readyState !== WebSocket.OPEN || this.state === "connecting") return;
    this.flushChanges(ws);
    this.flushSessions(ws);
  }

  /** Send the next session delta if no session push awaits its ack. */
  private flushSessions(ws: WebSocket): void {
    if (!this.sessions || this.sessionPushing) return;
    let push: SessionPush | null;
    try {
      push = this.sessions.nextPush(syncPageBudget());
    } catch (err) {
      this.sessions.setError("SYNC_OUTBOX_FAILED", (err as Error).message);
      return;
    }
    if (!push) return;
    const id = this.nextPushId++;
    const timer = this.ackTimer(ws, id);
    this.sessionPushing = { id, push, timer };
    ws.send(JSON.stringify({ type: "session_push", id, session: push.body }));
  }

  /** No answer to a push in ackTimeoutMs: the socket is presumed dead and reopened. */
  private ackTimer(ws: WebSocket, id: number): NodeJS.Timeout {
    const timer = setTimeout(() => {
      this.setError("SYNC_ACK_TIMEOUT", `No ack for push ${id} in ${this.o.ackTimeoutMs} ms; reconnecting.`);
      ws.terminate();
    }, this.o.ackTimeoutMs);
    timer.unref();
    return timer;
  }

  private onSessionPushDone(
    id: number,
    messagesProcessed: number,
    error: { code: string; message: string } | null,
  ): void {
    const pending = this.sessionPushing;
    const stream = this.sessions;
    if (!pending || pending.id !== id || !stream) return;
    clearTimeout(pending.timer);
    this.sessionPushing = null;
    if (!error) {
      stream.acknowledged(pending.push, messagesProcessed);
      this.flush();
      return;
    }
    stream.setError(error.code, error.message);
    this.setError(error.code, error.message);
    if (error.code === "VALIDATION_FAILED") {
      // Refused for good (it never will pass): skipped, so later messages keep moving.
      stream.acknowledged(pending.push, 0);
      stream.setError(error.code, error.message);
      this.o.log.error(
        { code: error.code, session: pending.push.sessionId },
        "sync: the relay refuses these session messages for good; skipped",
      );
      this.flush();
    }
    // Anything else is transient: the timer flushes again.
  }

  /** Send the next outbox batch if no push awaits its ack. */
  private flushChanges(ws: WebSocket): void {
    if (this.pushing) {
      this.pushAgain = true;
      return;
    }
    this.pushAgain = false;
    let changes: WireChange[] = [];
    try {
      // Changes the relay could never accept (over its cap, written by an older version; or
      // depending on a dead letter) are set aside before they are sent; then read again.
      for (let round = 0; round < 100; round++) {
        const read = readOutboxPage(this.o.store, this.probing ? 1 : this.o.pushBatch);
        for (const r of read.refused) this.refuse(r.hash, r);
        changes = read.changes;
        if (!read.refused.length) break;
      }
    } catch (err) {
      // Sync must never take the daemon down: report and retry on the next tick.
      this.setError("SYNC_OUTBOX_FAILED", (err as Error).message);
      return;
    }
    if (!changes.length) return;
    const id = this.nextPushId++;
    const timer = this.ackTimer(ws, id);
    this.pushing = { id, hashes: changes.map((c) => c.hash), timer };
    ws.send(JSON.stringify({ type: "push", id, changes }));
  }

  /** Dead-letter a change (and its memory's later local changes) and say so, once per change. */
  private refuse(hash: string, reason: { code: string; message: string }): void {
    const moved = deadLetter(this.o.store, hash, reason);
    if (!moved) return;
    this.setError(reason.code, reason.message);
    this.o.log.error(
      { code: reason.code, hash, changes: moved },
      "sync: the relay refuses this change for good; moved to dead letters, the outbox continues",
    );
  }

  private onPushDone(
    id: number,
    results: PushResult[],
    error: { code: string; message: string; details?: Record<string, unknown> } | null,
  ): void {
    if (!this.pushing || this.pushing.id !== id) return;
    clearTimeout(this.pushing.timer);
    const pushed = this.pushing.hashes;
    this.pushing = null;
    markSynced(
      this.o.store,
      results.filter((r) => r.status !== "purged").map((r) => r.hash),
    );
    const purged = results.filter((r) => r.status === "purged");
    if (purged.length) {
      const ids = docIdsOfChanges(
        this.o.store,
        purged.map((r) => r.hash),
      );
      void this.o.service.writeBeside(async () => {
        for (const docId of ids) purgeLocal(this.o.store, docId);
        return { value: null, touchedIds: [...ids] };
      });
    }
    this.pushed += results.filter((r) => r.status === "stored").length;
    if (error) {
      if (PERMANENT_CHANGE_ERRORS.has(error.code)) {
        const culprit = refusedChange(pushed, results.length, error.code, error.details);
        if (culprit) {
          // Refused for good: retrying it would block everything after it forever.
          this.probing = false;
          this.refuse(culprit, error);
          this.flush();
          return;
        }
        // The refusal named no change: find it by pushing one change at a time.
        if (pushed.length > 1 && !this.probing && error.code !== "VALIDATION_FAILED") {
          this.probing = true;
          this.setError(error.code, error.message);
          this.flush();
          return;
        }
      }
      // Transient (missing deps, quota, relay trouble): retry later rather than spin; the timer flushes.
      this.setError(error.code, error.message);
      return;
    }
    if (this.probing && results.length) this.probing = false;
    if (this.pushAgain || results.length) this.flush();
  }

  private backfill(): void {
    if (this.backfilling || !this.o.service.embedding) return;
    this.backfilling = true;
    void this.o.service
      .scheduleBackfill()
      .catch((err) => this.o.log.warn({ err: (err as Error).message }, "backfill after sync failed"))
      .finally(() => {
        this.backfilling = false;
      });
  }
}

/**
 * Which pushed change a permanent refusal is about: the hash the relay names, the index a
 * schema error names (`changes.<i>…`), or the only change pushed. Null when it cannot tell.
 */
function refusedChange(
  pushed: string[],
  accepted: number,
  code: string,
  details: Record<string, unknown> | undefined,
): string | null {
  const named = details?.hash;
  if (typeof named === "string" && pushed.includes(named)) return named;
  const issues = details?.issues as { path?: unknown }[] | undefined;
  const path = Array.isArray(issues) && typeof issues[0]?.path === "string" ? issues[0].path : "";
  const m = /^changes\.(\d+)(\.|$)/.exec(path);
  if (m && Number(m[1]) < pushed.length) return pushed[Number(m[1])];
  // A schema error that names no change is about the message, not a change.
  if (code === "VALIDATION_FAILED") return null;
  if (pushed.length - accepted === 1) return pushed[pushed.length - 1];
  return null;
}
