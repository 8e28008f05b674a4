import { TribalError } from "@tribalmemory/shared/errors";
import {
  ClientMessage,
  MAX_BATCHES_IN_FLIGHT,
  MAX_SYNC_BATCH,
  MIN_SYNC_PROTOCOL_VERSION,
  type ServerMessage,
  SYNC_PROTOCOL_VERSION,
  syncPageBudget,
  type WireChange,
} from "@tribalmemory/shared/sync/protocol";
import type { Logger } from "pino";
import type { WebSocket } from "ws";
import { type AuthContext, hasScope } from "../auth/api-keys.ts";
import { relaySessionService } from "../sessions/relay-sessions.ts";
import type { RelayDatabase } from "../store/database.ts";
import { RESYNC_PAYLOAD } from "../store/notify-listener.ts";
import { keyIsActive, recordDeviceCursor } from "../store/pg-accounting.ts";
import { revokedKeyIds } from "../store/pg-keys.ts";
import { PgSessionStore } from "../store/pg-session-store.ts";
import { cursorPrunedError, logBounds } from "../store/pg-snapshots.ts";
import type { IngestOutcome, PgMemoryStore } from "../store/pg-store.ts";
import { workspaceDeletedAt } from "../store/pg-tombstones.ts";
import { SnapshotPages } from "./snapshot-pages.ts";

const HEARTBEAT_MS = 30_000;
/** The close code after `workspace_deleted` (4000 + the HTTP status, as 4401 is for 401). */
const WORKSPACE_DELETED_CLOSE = 4410;

interface HubDeps {
  db: RelayDatabase;
  log: Logger;
  workspace: (id: string) => Promise<{ store: PgMemoryStore }>;
  ingest: (auth: AuthContext, changes: WireChange[], device: string | null) => Promise<IngestOutcome>;
  /** Told of every workspace whose log moved or that a device joined (the pruner follows them). */
  onLogActivity?: (workspaceId: string) => void;
}

/**
 * The WebSocket side of the relay: one SyncSession per socket, grouped by workspace so a
 * commit (here, or in another relay process via NOTIFY) wakes exactly that workspace's sockets.
 * Each socket carries the memory change log and, when its hello asks, the session log: two
 * streams, one transport, one auth check, one heartbeat.
 */
export class SyncHub {
  private readonly deps: HubDeps;
  private readonly byWorkspace = new Map<string, Set<SyncSession>>();
  private readonly heartbeat: NodeJS.Timeout;
  private draining = false;

  constructor(deps: HubDeps) {
    this.deps = deps;
    this.heartbeat = setInterval(() => {
      for (const set of this.byWorkspace.values()) for (const s of set) s.heartbeat();
    }, HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  accept(ws: WebSocket, auth: AuthContext): void {
    // An upgrade that passed auth while the relay began draining: the client goes elsewhere.
    if (this.draining) {
      ws.close(1001, "relay shutting down");
      return;
    }
    const session = new SyncSession(ws, auth, this.deps, this);
    let set = this.byWorkspace.get(auth.workspaceId);
    if (!set) {
      set = new Set();
      this.byWorkspace.set(auth.workspaceId, set);
    }
    set.add(session);
    ws.on("close", () => {
      set.delete(session);
      if (!set.size) this.byWorkspace.delete(auth.workspaceId);
    });
  }

  /** New entries in a workspace's log: every live socket of it pulls them. */
  wake(workspaceId: string): void {
    this.deps.onLogActivity?.(workspaceId);
    for (const s of this.byWorkspace.get(workspaceId) ?? []) s.pump();
  }

  /** New messages in a workspace's session log: every socket that follows it pulls them. */
  wakeSessions(workspaceId: string): void {
    for (const s of this.byWorkspace.get(workspaceId) ?? []) s.pumpSessions();
  }

  /**
   * NOTIFY payloads: `c:<workspace>:<seq>` (commit), `s:<workspace>:<seq>` (session messages),
   * `r:<key id>` (revocation), `w:<workspace>` (the workspace was deleted), and RESYNC_PAYLOAD
   * after the LISTEN connection came back (events may have been missed).
   */
  onEvent(payload: string): void {
    if (payload.startsWith("c:")) this.wake(payload.split(":")[1]);
    else if (payload.startsWith("s:")) this.wakeSessions(payload.split(":")[1]);
    else if (payload.startsWith("r:")) this.closeKey(payload.slice(2));
    else if (payload.startsWith("w:")) this.closeWorkspace(payload.slice(2));
    else if (payload === RESYNC_PAYLOAD) void this.resync();
  }

  /** Catch up on missed events: every live socket re-reads the log, revoked keys are closed. */
  async resync(): Promise<void> {
    for (const [workspaceId, set] of this.byWorkspace) {
      this.wake(workspaceId);
      this.wakeSessions(workspaceId);
      const keyIds = [...new Set([...set].flatMap((s) => (s.auth.keyId ? [s.auth.keyId] : [])))];
      try {
        for (const id of await revokedKeyIds(this.deps.db, workspaceId, keyIds)) this.closeKey(id);
      } catch (err) {
        this.deps.log.warn({ err: (err as Error).message, workspaceId }, "resync: key check failed");
      }
    }
  }

  /**
   * A key was revoked, or went with its deleted workspace (whose keys are revoked before the
   * `w:` event arrives): a tombstone tells which, so a daemon hears `workspace_deleted` and
   * purges, rather than API_KEY_REVOKED. One query per revocation, none per request.
   */
  closeKey(keyId: string): void {
    const sessions = [...this.byWorkspace.values()].flatMap((set) =>
      [...set].filter((s) => s.auth.keyId === keyId),
    );
    if (!sessions.length) return;
    void workspaceDeletedAt(this.deps.db, sessions[0].auth.workspaceId)
      .catch(() => null)
      .then((deletedAt) => {
        for (const s of sessions) {
          if (deletedAt) s.workspaceDeleted(deletedAt);
          else s.fail(new TribalError("API_KEY_REVOKED", "API key revoked."), 4401);
        }
      });
  }

  /**
   * The workspace was deleted: each of its sockets is told so (`workspace_deleted`, so the
   * daemon purges what it synced with it and stops) before it is closed. A daemon offline now
   * learns it at its next connect (WORKSPACE_DELETED at the upgrade).
   */
  closeWorkspace(workspaceId: string): void {
    const set = this.byWorkspace.get(workspaceId);
    if (!set) return;
    void workspaceDeletedAt(this.deps.db, workspaceId)
      .catch(() => null)
      .then((at) => {
        for (const s of set) s.workspaceDeleted(at ?? new Date().toISOString());
      });
  }

  async recordCursor(
    workspaceId: string,
    device: string,
    actor: string | null,
    cursor: number | null,
  ): Promise<void> {
    await recordDeviceCursor(this.deps.db, workspaceId, device, actor, cursor);
  }

  sessionCount(): number {
    let n = 0;
    for (const set of this.byWorkspace.values()) n += set.size;
    return n;
  }

  /** What the sockets still owe their clients, for the metrics: buffered bytes, unapplied batches. */
  backlog(): { bufferedBytes: number; unappliedBatches: number } {
    let bufferedBytes = 0;
    let unappliedBatches = 0;
    for (const set of this.byWorkspace.values())
      for (const s of set) {
        bufferedBytes += s.ws.bufferedAmount;
        unappliedBatches += s.unapplied();
      }
    return { bufferedBytes, unappliedBatches };
  }

  /**
   * Graceful shutdown: every socket finishes the messages it has already received (a push in
   * flight is ingested and acked), reads no new ones, and is closed with 1001 "going away";
   * its client reconnects, to another relay process, and pushes what was not acked again
   * (pushes are idempotent). Resolves when every socket has closed; `close()` after the
   * deadline terminates the rest.
   */
  async drain(): Promise<number> {
    this.draining = true;
    const sessions = [...this.byWorkspace.values()].flatMap((set) => [...set]);
    await Promise.all(sessions.map((s) => s.goAway()));
    return sessions.length;
  }

  /** Terminates every socket still open; returns how many there were. */
  close(): number {
    clearInterval(this.heartbeat);
    let n = 0;
    for (const set of this.byWorkspace.values())
      for (const s of set) {
        s.ws.terminate();
        n++;
      }
    return n;
  }
}

class SyncSession {
  readonly ws: WebSocket;
  readonly auth: AuthContext;
  private readonly deps: HubDeps;
  private readonly hub: SyncHub;
  private device: string | null = null;
  /** Last seq sent to this client. */
  private sent = 0;
  private inflight = 0;
  private live = false;
  private pumping = false;
  private pumpAgain = false;
  private alive = true;
  private queue: Promise<void> = Promise.resolve();
  /** Shutting down: messages already received are handled, later ones are not read. */
  private leaving = false;
  /** The hello's protocol version. */
  private protocol = 1;
  /**
   * Bootstrapping by snapshot (protocol 3): the log position S it covers, and where paging is
   * (memories by id, then purged ids). The log follows from S once the last page is sent.
   */
  private snapshot: SnapshotPages | null = null;
  /** The session stream, when the hello asked for it: last session-log seq sent, batches unapplied. */
  private sessions: { sent: number; inflight: number; pumping: boolean; again: boolean } | null = null;

  constructor(ws: WebSocket, auth: AuthContext, deps: HubDeps, hub: SyncHub) {
    this.ws = ws;
    this.auth = auth;
    this.deps = deps;
    this.hub = hub;
    ws.on("pong", () => {
      this.alive = true;
    });
    ws.on("message", (data, isBinary) => {
      this.alive = true;
      // Not acked, so the client sends it again after reconnecting (to another process).
      if (this.leaving) return;
      // Messages are handled one at a time, in order: a push is acked before the next is read.
      this.queue = this.queue
        .then(() => this.handle(isBinary ? null : data.toString()))
        .catch((err) => this.report(err));
    });
    ws.on("error", () => undefined);
  }

  unapplied(): number {
    return this.inflight + (this.sessions?.inflight ?? 0);
  }

  /** Finish the messages received so far (their acks are sent), then close with 1001. */
  async goAway(): Promise<void> {
    this.leaving = true;
    if (this.ws.readyState === this.ws.CLOSED) return;
    const closed = new Promise<void>((resolve) => this.ws.once("close", () => resolve()));
    // A socket terminated at the deadline stops waiting even if its ingest never returns.
    await Promise.race([this.queue, closed]);
    if (this.ws.readyState === this.ws.OPEN) this.ws.close(1001, "relay shutting down");
    await closed;
  }

  heartbeat(): void {
    if (!this.alive) {
      this.ws.terminate();
      return;
    }
    this.alive = false;
    this.ws.ping();
  }

  private send(msg: ServerMessage): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(JSON.stringify(msg));
  }

  fail(err: TribalError, closeCode: number): void {
    this.send({ type: "error", code: err.code, message: err.message });
    this.ws.close(closeCode, err.code);
  }

  workspaceDeleted(deletedAt: string): void {
    this.send({
      type: "workspace_deleted",
      workspace_id: this.auth.workspaceId,
      deleted_at: deletedAt,
      message: "This workspace was deleted; its data is gone from the relay. Purge what was synced with it.",
    });
    this.ws.close(WORKSPACE_DELETED_CLOSE, "WORKSPACE_DELETED");
  }

  private report(err: unknown, id?: number): void {
    const e =
      err instanceof TribalError
        ? err
        : new TribalError("INTERNAL", "Internal error. The relay log has details.");
    if (e.code === "INTERNAL") this.deps.log.error({ err }, "sync message failed");
    this.send({
      type: "error",
      ...(id !== undefined ? { id } : {}),
      code: e.code,
      message: e.message,
      ...(e.details ? { details: e.details } : {}),
    });
    if (e.code === "API_KEY_REVOKED" || e.code === "UNAUTHENTICATED") this.ws.close(4401, e.code);
  }

  private async handle(text: string | null): Promise<void> {
    let raw: unknown;
    try {
      raw = JSON.parse(text ?? "");
    } catch {
      throw new TribalError("INVALID_JSON", "Sync messages are JSON text frames.");
    }
    const parsed = ClientMessage.safeParse(raw);
    if (!parsed.success) {
      const i = parsed.error.issues[0];
      const id = typeof (raw as { id?: unknown })?.id === "number" ? (raw as { id: number }).id : undefined;
      return this.report(
        new TribalError(
          "VALIDATION_FAILED",
          `Invalid sync message: ${i.path.join(".") || "message"}: ${i.message}`,
          {
            issues: parsed.error.issues
              .slice(0, 10)
              .map((x) => ({ path: x.path.join("."), message: x.message })),
          },
        ),
        id,
      );
    }
    const msg = parsed.data;
    switch (msg.type) {
      case "hello": {
        if (msg.protocol < MIN_SYNC_PROTOCOL_VERSION || msg.protocol > SYNC_PROTOCOL_VERSION) {
          return this.fail(
            new TribalError(
              "SYNC_PROTOCOL_UNSUPPORTED",
              `This relay speaks sync protocol ${MIN_SYNC_PROTOCOL_VERSION} to ${SYNC_PROTOCOL_VERSION}, not ${msg.protocol}: upgrade ${msg.protocol > SYNC_PROTOCOL_VERSION ? "the relay" : "the daemon"}.`,
            ),
            4400,
          );
        }
        const { head, horizon } = await this.deps.db.tx(this.auth.workspaceId, (sql) =>
          logBounds(sql, this.auth.workspaceId),
        );
        this.device = msg.device;
        this.protocol = msg.protocol;
        // A cursor past the head means this log is not the one the client synced with (a
        // restored database): send everything again; applying is idempotent.
        const cursor = msg.cursor > head ? 0 : msg.cursor;
        this.inflight = 0;
        this.live = false;
        this.snapshot = null;
        // A new device, or one whose cursor the log no longer holds (pruned): the saved
        // documents and then the tail; a memory edited many times travels as one document.
        const pruned = cursor < horizon;
        if (pruned && msg.protocol < 3) return this.fail(cursorPrunedError(cursor, horizon), 4400);
        const snapshot =
          msg.protocol >= 3 && (pruned || (cursor === 0 && head > 0 && msg.snapshot !== false));
        if (snapshot) this.startSnapshot(head);
        else this.sent = cursor;
        this.deps.onLogActivity?.(this.auth.workspaceId);
        await this.hub.recordCursor(this.auth.workspaceId, msg.device, msg.actor, this.sent);
        this.sessions = null;
        // The session stream came with protocol 2.
        if (msg.sessions && msg.protocol >= 2) {
          const sessionHead = await new PgSessionStore(this.deps.db, this.auth.workspaceId).head();
          // As for changes: a cursor past the head is another log's; resend (idempotent by key).
          const cursor = msg.sessions.cursor > sessionHead ? 0 : msg.sessions.cursor;
          this.sessions = { sent: cursor, inflight: 0, pumping: false, again: false };
        }
        this.send({
          type: "welcome",
          protocol: SYNC_PROTOCOL_VERSION,
          workspace_id: this.auth.workspaceId,
          head,
        });
        if (snapshot) this.deps.log.info({ device: msg.device, cursor, head }, "sync: bootstrap by snapshot");
        this.pump();
        this.pumpSessions();
        return;
      }
      case "session_push": {
        if (!this.device) throw new TribalError("VALIDATION_FAILED", "Send hello before session_push.");
        try {
          await this.checkKey();
          if (!hasScope(this.auth.scopes, "write"))
            throw new TribalError("FORBIDDEN", "This API key lacks the `write` scope.");
          const service = relaySessionService(this.deps.db, this.auth.workspaceId, this.device);
          const outcome = await service.ingest(msg.session);
          this.send({
            type: "session_ack",
            id: msg.id,
            messages_processed: outcome.messages_processed,
            duplicates: outcome.duplicates,
          });
          // NOTIFY reaches every relay process too; this wakes this one's sockets without the round trip.
          if (outcome.messages_processed > 0) this.hub.wakeSessions(this.auth.workspaceId);
        } catch (err) {
          this.report(err, msg.id);
        }
        return;
      }
      case "sessions_applied":
        if (this.sessions) {
          this.sessions.inflight = Math.max(0, this.sessions.inflight - 1);
          this.pumpSessions();
        }
        return;
      case "push": {
        if (!this.device) throw new TribalError("VALIDATION_FAILED", "Send hello before push.");
        try {
          // Revocation takes effect at once, also on an open socket.
          await this.checkKey();
          if (!hasScope(this.auth.scopes, "write"))
            throw new TribalError("FORBIDDEN", "This API key lacks the `write` scope.");
          const outcome = await this.deps.ingest(this.auth, msg.changes, this.device);
          if (outcome.error) {
            const e = outcome.error;
            this.send({
              type: "error",
              id: msg.id,
              code: e.code,
              message: e.message,
              details: { ...e.details, accepted: outcome.results },
            });
          } else {
            this.send({ type: "ack", id: msg.id, results: outcome.results });
          }
        } catch (err) {
          this.report(err, msg.id);
        }
        return;
      }
      case "applied":
        this.inflight = Math.max(0, this.inflight - 1);
        if (this.device) await this.hub.recordCursor(this.auth.workspaceId, this.device, null, msg.cursor);
        this.pump();
        return;
      case "ping":
        this.send({ type: "pong" });
        return;
    }
  }

  private async checkKey(): Promise<void> {
    // Sockets open with API keys only (a login session is refused at the upgrade).
    if (this.auth.keyId && !(await keyIsActive(this.deps.db, this.auth.workspaceId, this.auth.keyId)))
      throw new TribalError(
        "API_KEY_REVOKED",
        "API key revoked; create a new one with `tribalmemory keys create`.",
      );
  }

  /**
   * Send session-log messages past the stream's cursor that other devices sent, while the
   * client has room (bounded in count and bytes, like changes). Re-entrant safe.
   */
  pumpSessions(): void {
    const stream = this.sessions;
    if (!stream || !this.device || this.leaving || this.ws.readyState !== this.ws.OPEN) return;
    if (stream.pumping) {
      stream.again = true;
      return;
    }
    stream.pumping = true;
    const store = new PgSessionStore(this.deps.db, this.auth.workspaceId);
    void (async () => {
      try {
        do {
          stream.again = false;
          while (stream.inflight < MAX_BATCHES_IN_FLIGHT && this.ws.readyState === this.ws.OPEN) {
            const page = await store.readLog(stream.sent, MAX_SYNC_BATCH, this.device, {
              maxBytes: syncPageBudget(),
            });
            if (page.cursor === stream.sent || this.sessions !== stream) break;
            const from = stream.sent;
            stream.sent = page.cursor;
            stream.inflight++;
            this.send({ type: "sessions", messages: page.messages, from, cursor: page.cursor });
          }
        } while (stream.again && this.sessions === stream);
      } catch (err) {
        this.deps.log.error({ err }, "session pump failed");
      } finally {
        stream.pumping = false;
      }
    })();
  }

  /**
   * The log was pruned past what this socket was replaying (the device was counted stale): a
   * client of protocol 3 takes the snapshot from here (the batches before it still apply in
   * order, the last snapshot page moves its cursor); an older one is refused.
   */
  private pumpFailed(err: unknown): void {
    if (!(err instanceof TribalError) || err.code !== "SYNC_CURSOR_PRUNED") {
      this.deps.log.error({ err }, "sync pump failed");
      return;
    }
    if (this.protocol < 3) {
      this.fail(err, 4400);
      return;
    }
    void this.deps.db
      .tx(this.auth.workspaceId, (sql) => logBounds(sql, this.auth.workspaceId))
      .then(({ head }) => {
        this.deps.log.info({ device: this.device, head }, "sync: log pruned past the socket; snapshot");
        this.startSnapshot(head);
        this.pump();
      })
      .catch((e) => this.deps.log.error({ err: e }, "sync pump failed"));
  }

  /** Bootstrap by snapshot up to `head`: the log is sent from there once the snapshot is. */
  private startSnapshot(head: number): void {
    this.snapshot = new SnapshotPages(head);
    this.sent = head;
  }

  /** Send log entries past `sent` while the client has room; then `live`. Re-entrant safe. */
  pump(): void {
    if (!this.device || this.leaving || this.ws.readyState !== this.ws.OPEN) return;
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    void (async () => {
      try {
        const { store } = await this.deps.workspace(this.auth.workspaceId);
        do {
          this.pumpAgain = false;
          while (this.inflight < MAX_BATCHES_IN_FLIGHT && this.ws.readyState === this.ws.OPEN) {
            const snap = this.snapshot;
            if (snap) {
              const page = await snap.next(this.deps.db, this.auth.workspaceId);
              if (snap.finished && this.snapshot === snap) this.snapshot = null;
              this.inflight++;
              this.send(page);
              continue;
            }
            // Bounded in entries and in bytes (the page budget, a quarter of the client's frame
            // limit): a page of 500 large changes once crossed 16 MiB and no new daemon could
            // bootstrap.
            const page = await store.readLog(this.sent, MAX_SYNC_BATCH, {
              skipDevice: this.device,
              maxBytes: syncPageBudget(),
            });
            if (page.cursor === this.sent) {
              if (!this.live) {
                this.live = true;
                this.send({ type: "live", cursor: this.sent });
              }
              break;
            }
            this.sent = page.cursor;
            this.inflight++;
            this.send({
              type: "changes",
              entries: page.entries,
              embeddings: page.embeddings,
              from: page.from,
              cursor: page.cursor,
            });
          }
        } while (this.pumpAgain);
      } catch (err) {
        this.pumpFailed(err);
      } finally {
        this.pumping = false;
      }
    })();
  }
}
