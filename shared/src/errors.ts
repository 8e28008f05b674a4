/**
 * Every error a user can see has one stable code from this table. The HTTP layer maps the
 * code to a status; the message says what happened and what to do next. Search for a code
 * here to learn what it means.
 */
export const ERROR_CODES = {
  /** The request body or query failed its schema. `details.issues` lists each field. */
  VALIDATION_FAILED: 422,
  /** The body is not parseable JSON (or not UTF-8). Send `Content-Type: application/json`. */
  INVALID_JSON: 400,
  /** A memory id is not a UUID. Ids come from `remember` responses. */
  INVALID_ID: 400,
  /** The URL cannot be read (a malformed percent-escape such as `%FF` or `%E0%A4`). Encode path parts as UTF-8. */
  INVALID_URL: 400,
  /** Content is larger than the cap (32 KiB by default). Split it into several memories. */
  CONTENT_TOO_LARGE: 413,
  /** The whole request body exceeds the server's body limit. Use batch/JSONL import for bulk data. */
  PAYLOAD_TOO_LARGE: 413,
  /** `context` is larger than 16 KiB as JSON. Keep bulky material in the content or elsewhere. */
  CONTEXT_TOO_LARGE: 413,
  /** `context` nests deeper than 32 levels. Flatten it. */
  CONTEXT_TOO_DEEP: 422,
  /** Content, context and tags together exceed the record cap (112 KiB). Trim one of them. */
  RECORD_TOO_LARGE: 413,
  /**
   * One Automerge change exceeds the cap (120 KiB for writers, 128 KiB at the relay). A daemon
   * that holds such a change from an older version moves it to its sync dead letters
   * (`tribalmemory sync status`); the rest of its outbox keeps syncing.
   */
  CHANGE_TOO_LARGE: 413,
  /** No memory with this id in this workspace (or it was purged). */
  MEMORY_NOT_FOUND: 404,
  /**
   * (daemon) A purge asked of a daemon for a memory it has synced: other machines hold it too.
   * Purge it on the relay with an admin key; the purge reaches every daemon, this one included.
   */
  PURGE_ON_RELAY: 409,
  /** No memory names this entity. `GET /v1/entities` lists the names the server knows. */
  ENTITY_NOT_FOUND: 404,
  /**
   * The client closed the connection while its write waited its turn, so the write was not
   * made (nobody would read the answer). Retry the request; a retry cannot create a duplicate.
   */
  CLIENT_CLOSED_REQUEST: 499,
  /** The route does not exist. See `GET /v1/health` for the API version. */
  ROUTE_NOT_FOUND: 404,
  /** The write conflicts with the memory's state, e.g. correcting a forgotten memory. */
  CONFLICT: 409,
  /** An import line or entry could not be read; `details.line` tells which. */
  IMPORT_INVALID: 422,
  /**
   * An imported vector cannot be stored: its length differs from the manifest's and this
   * server's model dimensions, or it holds a non-finite value, or it is all zeros. With
   * `on_error: "skip"` the memory is imported without it and re-embedded; send
   * `embedding_strategy: "drop"` to re-embed every entry.
   */
  IMPORT_EMBEDDING_INVALID: 422,
  /** Another daemon or relay already holds this data folder. Stop it, or pass another `--data-dir`. */
  DATA_DIR_LOCKED: 409,
  /** The embedding model's file is missing. Place it where the message says or change config. */
  MODEL_FILE_MISSING: 503,
  /** The model file's SHA-256 differs from the pinned one: a corrupt or wrong download. */
  MODEL_CHECKSUM_MISMATCH: 503,
  /** No embedding model is loaded yet; keyword recall still works. */
  MODEL_UNAVAILABLE: 503,
  /**
   * (`models pull`) The model hub could not be reached (offline, DNS, refused, stalled). Check the
   * connection or set TRIBAL_MEMORY_MODEL_HUB / HF_ENDPOINT to a mirror; a rerun resumes the download.
   */
  MODEL_HUB_UNREACHABLE: 503,
  /** (`models pull`) The hub has no such file (404): a wrong mirror, or the pinned revision is gone there. */
  MODEL_HUB_NOT_FOUND: 404,
  /** (`models pull`) The hub answered with an error status (401/403: set HF_TOKEN for a gated mirror). */
  MODEL_HUB_REFUSED: 502,
  /**
   * (`embedding.provider: openai`) The embeddings endpoint refused the API key (401/403). Set
   * TRIBAL_MEMORY_EMBEDDING_API_KEY (or OPENAI_API_KEY) to a key it accepts.
   */
  EMBEDDING_ENDPOINT_AUTH_FAILED: 502,
  /**
   * (`embedding.provider: openai`) The embeddings endpoint was unreachable, timed out, or kept
   * answering 429/5xx after the retries. Start the server or fix `embedding.base_url`, then restart
   * the daemon (at start the model does not load and recall is keyword-only).
   */
  EMBEDDING_ENDPOINT_UNAVAILABLE: 503,
  /**
   * (`embedding.provider: openai`) The endpoint rejected the request (unknown model, input too
   * long) or answered something that is not an embeddings list. Check `embedding.model` and
   * `embedding.base_url` (it ends in `/v1` for OpenAI, Ollama, LM Studio and vLLM).
   */
  EMBEDDING_ENDPOINT_REJECTED: 502,
  /** Missing or malformed `Authorization: Bearer tm_live_…` header. */
  UNAUTHENTICATED: 401,
  /** The API key was revoked; create a new one with `tribalmemory keys create`. */
  API_KEY_REVOKED: 401,
  /** The key lacks the scope this route needs (`read`, `write` or `admin`). */
  FORBIDDEN: 403,
  /** (daemon) The `Host` header names neither loopback nor `server.allowed_hosts` (DNS rebinding). Use `127.0.0.1`/`localhost`, or add the name to `server.allowed_hosts`. */
  HOST_NOT_ALLOWED: 421,
  /** (daemon) A web page from another origin sent this request. Add a trusted origin to `server.allowed_origins`. */
  ORIGIN_NOT_ALLOWED: 403,
  /** The body's `Content-Type` is not one this route reads: `application/json` (JSONL import: `application/x-ndjson`), `charset=utf-8` at most. */
  UNSUPPORTED_MEDIA_TYPE: 415,
  /** (daemon) Missing or wrong local token. Send `Authorization: Bearer <token>` or `X-Tribal-Token` with the contents of `~/.tribal-memory/local-token`. */
  LOCAL_TOKEN_REQUIRED: 401,
  /** (daemon start) Asked to listen off loopback without requiring the local token. Pass `--require-token` or set `server.require_token: true`. */
  NON_LOOPBACK_WITHOUT_TOKEN: 500,
  /** A sync change names dependencies the relay does not hold yet; push those first. */
  SYNC_MISSING_DEPS: 409,
  /** A sync change could not be decoded or does not belong to the document it claims. */
  SYNC_INVALID_CHANGE: 422,
  /** This server keeps no session transcripts (the relay, or a daemon built without them). Use `sources: "memories"`. */
  SESSIONS_UNAVAILABLE: 501,
  /** No API key with this id in the key's workspace. `GET /v1/auth/keys` lists them. */
  KEY_NOT_FOUND: 404,
  /** The sync client speaks a protocol version this relay does not; upgrade the older side. */
  SYNC_PROTOCOL_UNSUPPORTED: 400,
  /**
   * The relay pruned its change log past this cursor (`details.horizon`): the changes after it
   * are no longer all there to replay. A daemon of sync protocol 3 or later re-bootstraps from
   * the relay's snapshot by itself (its unsynced writes still go up); an older one must be
   * upgraded; an HTTP pull (`POST /v1/sync/pull`) has no snapshot: sync over the WebSocket.
   */
  SYNC_CURSOR_PRUNED: 410,
  /**
   * The daemon will not send its API key in plaintext (`http://` or `ws://`) to a relay that is
   * not on loopback. Use `https://`, or set `sync.allow_insecure: true` in config for a trusted
   * network. The daemon keeps working locally; sync stays off until then.
   */
  SYNC_INSECURE_URL: 400,
  /** Too many failed authentications from this address; wait `Retry-After` seconds. A wrong or revoked key does this. */
  AUTH_RATE_LIMITED: 429,
  /** Revoking this key would leave the workspace without an admin key; create another admin key first. */
  LAST_ADMIN_KEY: 409,
  /**
   * (relay) The workspace lives in another region (`details.region`) than this relay serves
   * (`relay start --regions`): send the request, or point the daemon's sync URL, to a relay of
   * that region. Creating a workspace in a region this relay does not serve answers the same.
   */
  WRONG_REGION: 421,
  /**
   * (relay, sync status) The workspace of this API key was deleted (`details.deleted_at`). A
   * daemon told so purges every memory it synced with it and stops syncing; create or join
   * another workspace and configure its key to sync again.
   */
  WORKSPACE_DELETED: 410,
  /** (relay start) Plaintext on a non-loopback address: pass `--tls-cert/--tls-key`, or `--behind-proxy` when a TLS proxy fronts it. */
  TLS_REQUIRED: 500,
  /** (relay start) The database role is a superuser or has BYPASSRLS, so row-level security would not isolate workspaces. Connect as the app role, or pass `--allow-rls-bypass` (single-tenant only). */
  RLS_BYPASS_ROLE: 500,
  /** (relay) PostgreSQL could not be reached or refused the login. Check `--database-url` and that the server runs. */
  DATABASE_UNREACHABLE: 503,
  /**
   * (start) The config file has mistakes; the message lists every one as `file:line:column: key:
   * what is allowed` (`details.issues`). Fix them all and start again.
   */
  CONFIG_INVALID: 500,
  /**
   * (relay start) The schema is older than this build and migrations were turned off
   * (`--no-migrate`, `db.migrate: false`). Run `tribalmemory relay migrate` with the owner's URL
   * (`--admin-database-url`) first; `details.missing` lists the versions it lacks.
   */
  SCHEMA_OUTDATED: 503,
  /**
   * (relay start) `auth.enabled: false` (no API keys, one workspace) on an address off loopback
   * or behind a proxy: anyone who reaches it could read and write every memory. Listen on
   * 127.0.0.1, or turn auth back on and use `relay init` keys.
   */
  AUTH_DISABLED_OFF_LOOPBACK: 500,
  /**
   * (relay `GET /v1/ready`) This relay process should not get traffic now: its database does not
   * answer, its schema lacks migrations this build needs (`details.missing_migrations`: start
   * one relay of this version, which migrates, or run its migrations), or it is shutting down.
   * A load balancer sends requests to another process meanwhile; liveness (`/v1/health`) is fine.
   */
  NOT_READY: 503,
  /**
   * The web dashboard's files (dashboard/dist) are missing on this server: run `pnpm install` in
   * the checkout, which builds them, and restart. The /v1 API works without them.
   */
  DASHBOARD_NOT_BUILT: 503,
  /**
   * (relay `GET /metrics`) The relay was started with a metrics token and the scrape did not send
   * it: configure the scraper with `Authorization: Bearer <TRIBAL_MEMORY_METRICS_TOKEN>`.
   */
  METRICS_TOKEN_REQUIRED: 401,
  /** (CLI) No relay answered at the URL. Check `--relay`/`TRIBAL_MEMORY_CLOUD_URL` and that `tribalmemory relay start` runs there. */
  RELAY_UNREACHABLE: 502,
  /** (CLI, MCP) No daemon answers at the URL. Start it with `tribalmemory daemon start`, or check `--url`/`TRIBAL_MEMORY_URL`. */
  DAEMON_UNREACHABLE: 503,
  /** (MCP) The daemon went away during a call and did not come back after one restart. See its log (`daemon status`). */
  DAEMON_CONNECTION_LOST: 503,
  /** (CLI, MCP) The server answered something that is not this API's JSON: is the URL a TribalMemory daemon or relay? */
  BAD_RESPONSE: 502,
  /** (MCP) The server has no entity graph (an older daemon): upgrade it, or use `tribal_recall_entity`. */
  ENTITY_GRAPH_UNAVAILABLE: 501,
  /** (sync status) The relay answered the WebSocket upgrade with an unexpected status; the daemon retries with backoff. */
  RELAY_REFUSED: 502,
  /** (sync status) The relay stopped answering heartbeats; the daemon reconnects by itself. */
  RELAY_SILENT: 504,
  /** (sync status) A push was not acknowledged in time; the daemon reconnects and pushes again (pushes are idempotent). */
  SYNC_ACK_TIMEOUT: 504,
  /** (sync status) Reading the outbox failed; the daemon retries. If it repeats, check the data folder's disk. */
  SYNC_OUTBOX_FAILED: 500,
  /** (sync status) A batch from the relay could not be applied; nothing of it was kept and it is fetched again. Report it if it repeats. */
  SYNC_APPLY_FAILED: 500,
  /** (sync status) A batch from the relay skipped a sequence number; the daemon resynchronises from its cursor. */
  SYNC_GAP: 409,
  /**
   * (relay) The workspace's plan allows no more of `details.resource` (memories or agents);
   * `details` has the limit, the usage and the plan. Upgrade (`POST /v1/billing/checkout`, or
   * ask the relay's admin: `tribalmemory relay plan`) or delete memories. A daemon keeps what it
   * could not push in its outbox and pushes it by itself once the plan allows.
   */
  QUOTA_EXCEEDED: 402,
  /**
   * (relay) The workspace used its plan's recalls for this month; they come back at
   * `details.resets_at` (start of next month, UTC; `Retry-After` in seconds). Upgrade for more.
   */
  QUERY_QUOTA_EXCEEDED: 429,
  /** (relay) This relay has no billing provider configured (`billing.stripe`); plans are set by its admin with `tribalmemory relay plan`. */
  BILLING_NOT_CONFIGURED: 501,
  /**
   * (relay) A billing webhook's `Stripe-Signature` is missing, forged, or older than 5 minutes.
   * Check the endpoint's signing secret (`billing.stripe.webhook_secret`) and the server's clock.
   */
  WEBHOOK_SIGNATURE_INVALID: 400,
  /** (relay) The billing provider refused or did not answer; `details` has its status. Retry; if it repeats, check `billing.stripe.secret_key`. */
  BILLING_PROVIDER_FAILED: 502,
  /** (relay) The workspace has no billing account yet: subscribe first with `POST /v1/billing/checkout`. */
  BILLING_NO_CUSTOMER: 409,
  /** (relay accounts) Wrong email or password (the same answer for both). Check them, or sign up with `POST /v1/auth/signup`. */
  INVALID_CREDENTIALS: 401,
  /** (relay accounts) A user with this email already exists on this relay. Log in (`POST /v1/auth/login`) instead. */
  EMAIL_TAKEN: 409,
  /** (relay accounts) The login session expired, was logged out or revoked. Log in again (`POST /v1/auth/login`). */
  SESSION_EXPIRED: 401,
  /** (relay accounts) This route acts for a person: it needs a login session cookie (log in first), not an API key. */
  SESSION_REQUIRED: 401,
  /** (relay accounts) A request authenticated by the session cookie that is not a GET lacks the right `X-CSRF-Token` header; read it from `GET /v1/auth/me`. */
  CSRF_TOKEN_INVALID: 403,
  /** (relay accounts) A route of one workspace called with a session cookie and no `X-Tribal-Workspace: <workspace id>` header. `GET /v1/workspaces` lists yours. */
  WORKSPACE_HEADER_REQUIRED: 400,
  /** (relay accounts) No workspace with this id that you are a member of. `GET /v1/workspaces` lists yours. */
  WORKSPACE_NOT_FOUND: 404,
  /** (relay accounts) Your role in this workspace does not allow this (members' roles and invitations need admin; owners' roles and deleting the workspace need owner). Ask an owner. */
  ROLE_FORBIDDEN: 403,
  /** (relay accounts) No member with this user id in the workspace. `GET /v1/workspaces/:id/members` lists them. */
  MEMBER_NOT_FOUND: 404,
  /** (relay accounts) The workspace's last owner cannot leave, be removed or be demoted. Make another member owner first. */
  LAST_OWNER: 409,
  /** (relay accounts) No pending invitation with this token or id (mistyped, or revoked by an admin). Ask for a new link. */
  INVITATION_NOT_FOUND: 404,
  /** (relay accounts) The invitation's time ran out (7 days by default). Ask an admin of the workspace for a new one. */
  INVITATION_EXPIRED: 410,
  /** (relay accounts) The invitation was already accepted; each link works once. Ask for a new one if you need it. */
  INVITATION_USED: 409,
  /** (relay accounts) The invitation is for another email address. Log in as that user, or ask for an invitation to yours. */
  INVITATION_EMAIL_MISMATCH: 403,
  /** (relay accounts) Deleting a workspace needs the `confirmation_token` its first DELETE answered, from the same user, within 10 minutes. Send the DELETE again without a token for a new one. */
  CONFIRMATION_INVALID: 409,
  /** Unexpected failure. The log has the details; please report it. */
  INTERNAL: 500,
} as const satisfies Record<string, number>;

export type ErrorCode = keyof typeof ERROR_CODES;

export class TribalError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = "TribalError";
    this.code = code;
    this.details = details;
  }

  get status(): number {
    return ERROR_CODES[this.code];
  }

  toJSON(): { error: { code: ErrorCode; message: string; details?: Record<string, unknown> } } {
    return {
      error: { code: this.code, message: this.message, ...(this.details ? { details: this.details } : {}) },
    };
  }
}
