import { z } from "zod";
import { MAX_SYNC_MESSAGE_BYTES } from "../memory/size-policy.ts";
import { SessionIngestBody } from "../sessions/schemas.ts";

/**
 * The sync protocol between a daemon and the relay, spoken over a WebSocket at `/v1/sync`
 * (JSON text frames) and, for clients without a socket, over `POST /v1/sync/push|pull`.
 *
 *   client → hello{protocol, device, actor, cursor}
 *   relay  → welcome{head}; then `changes` batches of every entry with seq > cursor, then `live`,
 *            then further `changes` as they commit (from any relay process, via LISTEN/NOTIFY)
 *   client → applied{cursor} after each batch is applied (flow control: at most
 *            MAX_BATCHES_IN_FLIGHT unapplied batches on the wire)
 *   client → push{id, changes} with its outbox in local order; relay → ack{id, results}
 *            or error{id, code, details.accepted}
 *
 * Duplicates are no-ops on both sides (idempotent by change hash), so any message may be
 * resent after a reconnect.
 *
 * Session transcripts are a second stream on the same socket, opened only when the hello asks
 * for it (`sync.sessions: true`; otherwise nothing about sessions crosses it). A transcript is
 * append-only and keyed per message, so this stream is a log of messages with a cursor of its
 * own (the relay's per-workspace session log), not of Automerge changes:
 *
 *   client → hello{…, sessions{cursor}}
 *   relay  → sessions{messages, from, cursor}: what other devices sent; client → sessions_applied{cursor}
 *   client → session_push{id, session}: one session's delta past what the relay acked;
 *            relay → session_ack{id, messages_processed, duplicates} or error{id}
 *
 * Session messages are idempotent by key (id, index or content hash) at both ends.
 *
 * Bootstrap by snapshot (protocol 3): a client with no cursor, or one older than the relay's
 * pruned horizon, gets the current saved Automerge document of every memory instead of the log:
 *
 *   relay  → snapshot{docs, embeddings, purged, cursor: S, done} pages (same flow control as
 *            `changes`: the client answers each with applied{cursor: S}); every document covers
 *            at least the log up to seq S; the page with done: true also lists the purged ids
 *   client → merges each document into its own (idempotent), and moves its cursor to S only
 *            after the page with done: true; then `changes` follow from S as usual
 *
 * A client that says `snapshot: false` in its hello is replayed the log while the log still
 * holds its cursor (diagnostics, benchmarks); past the horizon it gets the snapshot anyway.
 */
/**
 * 2 added the session stream (`hello.sessions`, `sessions`, `session_push`); 3 the bootstrap by
 * snapshot (`snapshot`, `hello.snapshot`). A relay answers every version from
 * MIN_SYNC_PROTOCOL_VERSION up (a client below 3 is replayed the log, and refused with
 * SYNC_CURSOR_PRUNED once the log no longer holds its cursor); an older relay refuses a newer
 * daemon with SYNC_PROTOCOL_UNSUPPORTED instead of a schema error about an unknown field.
 */
export const SYNC_PROTOCOL_VERSION = 3;
export const MIN_SYNC_PROTOCOL_VERSION = 1;
/** Entries per `changes` batch and changes per `push`. */
export const MAX_SYNC_BATCH = 500;
/** Unapplied `changes` batches the relay lets a socket hold. */
export const MAX_BATCHES_IN_FLIGHT = 2;
/**
 * Byte limits come from the one size policy (shared/src/memory/size-policy.ts): the relay's
 * change cap, the frame limit both ends give their sockets, and the page budget that keeps
 * every batch, pull response and push far below that frame.
 */
export {
  MAX_CHANGE_BYTES,
  MAX_SYNC_MESSAGE_BYTES,
  MAX_SYNC_PAGE_BYTES,
  syncPageBudget,
  wireEntryBytes,
} from "../memory/size-policy.ts";

/**
 * Codes with which the relay refuses one change for good: resending it can never succeed, so
 * a daemon moves it to its dead letters instead of retrying it at the head of its outbox.
 * Anything else (SYNC_MISSING_DEPS, quota, 5xx, auth) is transient and retried.
 * VALIDATION_FAILED counts only when it names the change (`details.hash` or `changes.<i>`).
 */
export const PERMANENT_CHANGE_ERRORS: ReadonlySet<string> = new Set([
  "SYNC_INVALID_CHANGE",
  "CHANGE_TOO_LARGE",
  "VALIDATION_FAILED",
]);

const hash = z.string().regex(/^[0-9a-f]{64}$/, "must be a 64-hex change hash");
const docId = z
  .string()
  .regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, "must be a memory id");
const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, "must be base64");
const deviceId = z.string().trim().min(1).max(200);

/** A vector beside a change: receivers store it when the model matches their own. */
export const WireEmbedding = z.strictObject({
  doc_id: docId,
  model_id: z.string().min(1).max(200),
  content_hash: hash,
  /** Little-endian float32, base64. */
  vector: base64.max(64 * 1024),
});
export type WireEmbedding = z.infer<typeof WireEmbedding>;

export const WireChange = z.strictObject({
  doc_id: docId,
  hash,
  deps: z.array(hash).max(256),
  /**
   * The Automerge change, base64. Bounded here only by the frame: a change over the relay's
   * cap (MAX_CHANGE_BYTES) is refused by decodeWireChange with CHANGE_TOO_LARGE and its hash,
   * so the sender knows which change to dead-letter instead of seeing the whole push invalid.
   */
  bytes: base64.max(MAX_SYNC_MESSAGE_BYTES),
  embedding: WireEmbedding.optional(),
});
export type WireChange = z.infer<typeof WireChange>;

/** One entry of the relay's log: a change, or the tombstone of a hard-deleted memory. */
export type WireEntry =
  | { seq: number; kind: "change"; doc_id: string; hash: string; deps: string[]; bytes: string }
  | { seq: number; kind: "purge"; doc_id: string };

/** One memory's saved Automerge document in a snapshot page. */
export interface WireSnapshotDoc {
  doc_id: string;
  bytes: string;
}

export type PushStatus = "stored" | "duplicate" | "purged";
export interface PushResult {
  hash: string;
  /** The relay seq of the change; null for a change of a purged memory (dropped). */
  seq: number | null;
  status: PushStatus;
}

/** A message of the relay's session log, as the session stream and `GET /v1/sessions/messages` carry it. */
export interface SessionLogMessage {
  /** Its seq in the workspace's session log. */
  cursor: number;
  session_id: string;
  instance_id: string;
  source: string | null;
  role: string;
  content: string;
  timestamp: string;
  /** The id or index the sender gave: ingested again under it, the message is a duplicate. */
  id?: string;
  index?: number;
}

/**
 * What a stored session message key was ingested as: `id:X` → id X, `ix:N` → index N, a
 * content hash `h:…` → id `h:…`. Sent to the relay and back, a message keeps one key everywhere.
 */
export function sessionKeyIdentity(key: string): { id?: string; index?: number } {
  if (key.startsWith("id:")) return { id: key.slice(3) };
  if (key.startsWith("ix:")) return { index: Number(key.slice(3)) };
  return { id: key };
}

export const PushBody = z.strictObject({
  device: deviceId,
  changes: z.array(WireChange).max(MAX_SYNC_BATCH),
});
export type PushBody = z.infer<typeof PushBody>;

export const PullBody = z.strictObject({
  cursor: z.number().int().min(0),
  limit: z.number().int().min(1).max(MAX_SYNC_BATCH).default(MAX_SYNC_BATCH),
  device: deviceId.optional(),
});
export type PullBody = z.infer<typeof PullBody>;

export interface PullResponse {
  entries: WireEntry[];
  embeddings: WireEmbedding[];
  /** The cursor asked for. */
  from: number;
  /** Resume from here: the last seq this response covers. */
  cursor: number;
  more: boolean;
}

export const ClientMessage = z.discriminatedUnion("type", [
  z.strictObject({
    type: z.literal("hello"),
    protocol: z.number().int(),
    device: deviceId,
    actor: z.string().regex(/^[0-9a-f]{1,64}$/),
    cursor: z.number().int().min(0),
    /** Present only when the daemon shares session transcripts: their cursor. */
    sessions: z.strictObject({ cursor: z.number().int().min(0) }).optional(),
    /** Protocol 3: false asks to be replayed the log rather than sent a snapshot, while it can be. */
    snapshot: z.boolean().optional(),
  }),
  z.strictObject({
    type: z.literal("push"),
    id: z.number().int().min(0),
    changes: z.array(WireChange).max(MAX_SYNC_BATCH),
  }),
  z.strictObject({ type: z.literal("applied"), cursor: z.number().int().min(0) }),
  z.strictObject({
    type: z.literal("session_push"),
    id: z.number().int().min(0),
    session: SessionIngestBody,
  }),
  z.strictObject({ type: z.literal("sessions_applied"), cursor: z.number().int().min(0) }),
  z.strictObject({ type: z.literal("ping") }),
]);
export type ClientMessage = z.infer<typeof ClientMessage>;

export type ServerMessage =
  | { type: "welcome"; protocol: number; workspace_id: string; head: number }
  | {
      type: "changes";
      entries: WireEntry[];
      embeddings: WireEmbedding[];
      /** The cursor this batch continues from: a client whose cursor is lower missed a batch. */
      from: number;
      cursor: number;
    }
  | {
      type: "snapshot";
      /** Saved Automerge documents (base64), each covering at least the log up to `cursor`. */
      docs: WireSnapshotDoc[];
      embeddings: WireEmbedding[];
      /** Memories hard-deleted on the relay (on the page with done: true). */
      purged: string[];
      /** S: the log position the snapshot covers; the client's cursor once `done` is applied. */
      cursor: number;
      done: boolean;
    }
  | { type: "live"; cursor: number }
  | { type: "ack"; id: number; results: PushResult[] }
  | {
      type: "sessions";
      messages: SessionLogMessage[];
      /** The session cursor this batch continues from. */
      from: number;
      cursor: number;
    }
  | { type: "session_ack"; id: number; messages_processed: number; duplicates: number }
  | {
      type: "error";
      id?: number;
      code: string;
      message: string;
      details?: Record<string, unknown>;
    }
  | { type: "pong" }
  /**
   * The workspace was deleted (its data, keys and log are gone from the relay); the socket
   * closes after this. The daemon purges every memory it synced with the workspace and stops
   * syncing; a daemon offline meanwhile hears WORKSPACE_DELETED (410) at its next connect.
   */
  | { type: "workspace_deleted"; workspace_id: string; deleted_at: string; message: string };

export function encodeVector(v: Float32Array): string {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64");
}

export function decodeVector(text: string): Float32Array {
  const buf = Buffer.from(text, "base64");
  const copy = new Uint8Array(buf.byteLength - (buf.byteLength % 4));
  copy.set(buf.subarray(0, copy.byteLength));
  return new Float32Array(copy.buffer);
}

export function encodeBytes(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("base64");
}

export function decodeBytes(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, "base64"));
}
