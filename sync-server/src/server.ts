import { isIPv6 } from "node:net";
import websocket from "@fastify/websocket";
import { TribalError } from "@tribalmemory/shared/errors";
import { BODY_LIMITS } from "@tribalmemory/shared/http/body-limits";
import { registerDashboard } from "@tribalmemory/shared/http/dashboard-static";
import { isLoopbackHostname } from "@tribalmemory/shared/http/loopback";
import { answerFrameworkError, installServerBasics } from "@tribalmemory/shared/http/server-basics";
import { newActorId } from "@tribalmemory/shared/memory/document";
import type { EmbedderInfo, MemoryService } from "@tribalmemory/shared/service/memory-service";
import { MAX_SYNC_MESSAGE_BYTES, type WireChange } from "@tribalmemory/shared/sync/protocol";
import Fastify, { type FastifyInstance } from "fastify";
import pino, { type Logger } from "pino";
import type { AuthContext } from "./auth/api-keys.ts";
import { AuthThrottle, type AuthThrottleOptions } from "./auth/auth-throttle.ts";
import type { BillingOptions } from "./billing/billing-provider.ts";
import { StripeBilling } from "./billing/stripe.ts";
import { accountRoutes } from "./http/account-routes.ts";
import { auditRoutes } from "./http/audit-routes.ts";
import { billingRoutes } from "./http/billing-routes.ts";
import { embedRoutes } from "./http/embed-routes.ts";
import { exportRoutes } from "./http/export-routes.ts";
import { healthRoutes } from "./http/health-routes.ts";
import { invitationRoutes } from "./http/invitation-routes.ts";
import { keyRoutes } from "./http/key-routes.ts";
import { mcpRoutes } from "./http/mcp-routes.ts";
import { memberRoutes } from "./http/member-routes.ts";
import { installMetrics } from "./http/metrics.ts";
import { installQuotaHooks } from "./http/quota-hooks.ts";
import { installRegionGuard, parseRegions } from "./http/region-guard.ts";
import { installRelayAuth } from "./http/relay-auth.ts";
import { installRequestRecording } from "./http/request-record.ts";
import { syncRoutes } from "./http/sync-routes.ts";
import { syncSocket } from "./http/sync-socket.ts";
import { usageRoutes } from "./http/usage-routes.ts";
import { workspaceApi } from "./http/workspace-api.ts";
import { workspaceKeyRoutes } from "./http/workspace-key-routes.ts";
import { workspaceRoutes } from "./http/workspace-routes.ts";
import { RelayMetrics } from "./metrics/relay-metrics.ts";
import { QuotaGuard } from "./plans/quota.ts";
import { ReadinessCheck } from "./service/readiness.ts";
import { relayExpirySweeper } from "./service/relay-expiry.ts";
import { RelayWorkspaces } from "./service/relay-workspaces.ts";
import { DEFAULT_SHUTDOWN_DEADLINE_MS, drainRelay } from "./service/shutdown.ts";
import { createRelaySessions } from "./sessions/relay-sessions.ts";
import { appRole, openDatabase, type RelayDatabase } from "./store/database.ts";
import { ensureSingleTenant } from "./store/pg-single-tenant.ts";
import { EVENTS_CHANNEL, type PgMemoryStore } from "./store/pg-store.ts";
import { DEFAULT_LOG_PRUNE, LogPruner, type LogPruneSettings } from "./sync/log-pruner.ts";
import { SyncHub } from "./sync/sync-hub.ts";

export const RELAY_VERSION = "0.1.0";
/**
 * Loopback by default: plaintext is allowed there only, so `relay start` with no flags works
 * and exposes nothing. Serving a network needs `--host 0.0.0.0` with `--tls-cert/--tls-key`
 * or `--behind-proxy`.
 */
export const DEFAULT_RELAY_HOST = "127.0.0.1";

export interface RelayOptions {
  host?: string;
  port?: number;
  /** App connection (no BYPASSRLS). Absent → embedded PGlite in `dataDir`. */
  databaseUrl?: string | null;
  /** Connection for migrations; defaults to databaseUrl. */
  adminDatabaseUrl?: string | null;
  /** A read replica for recall's searches (database.ts `readDatabaseUrl`). */
  readDatabaseUrl?: string | null;
  dataDir?: string | null;
  /** An already open database (tests share one). */
  db?: RelayDatabase;
  embedder?: EmbedderInfo | null;
  logger?: Logger;
  /** PEM certificate (chain) and key: HTTPS and WSS on the same port. */
  tls?: { cert: string | Buffer; key: string | Buffer } | null;
  /**
   * A TLS-terminating proxy fronts the relay: plaintext is allowed off loopback, and the
   * proxy's `X-Forwarded-For`/`X-Forwarded-Proto` (one hop) are trusted.
   */
  behindProxy?: boolean;
  /** Start even when the database role skips row-level security (single-tenant use only). */
  allowRlsBypass?: boolean;
  /** false: run no migrations (`relay migrate` does) and refuse an older schema: SCHEMA_OUTDATED. */
  migrate?: boolean;
  /** `auth.enabled: false`: no API keys, one workspace; loopback only (AUTH_DISABLED_OFF_LOOPBACK). */
  singleTenant?: boolean;
  /** Failed-authentication throttle per client address (default 10 a minute). */
  authThrottle?: AuthThrottleOptions;
  /**
   * Enforce each workspace's plan (plans/plans.ts): memories, recalls a month, agents. Default
   * on, off for a single-tenant relay; usage is metered either way.
   */
  quotas?: boolean;
  /** How long a workspace's plan is cached per process (default 5 s; plans/quota.ts). */
  quotaCacheMs?: number;
  /**
   * Payments (`POST /v1/billing/checkout|portal|webhook`); null or absent: those routes answer
   * 501 BILLING_NOT_CONFIGURED and plans are set by the admin (`tribalmemory relay plan`).
   */
  billing?: BillingOptions | null;
  /**
   * Bearer token `GET /metrics` requires (`TRIBAL_MEMORY_METRICS_TOKEN`). Absent: metrics are
   * open to whoever reaches the port (they hold no tenant data; see http/metrics.ts), and a
   * relay off loopback says so in its startup log.
   */
  metricsToken?: string | null;
  /** How long `close()` (SIGTERM) lets requests and sync sockets drain before cutting them (10 s). */
  shutdownDeadlineMs?: number;
  /**
   * The regions whose workspaces this relay serves (`relay start --regions eu,us`): others get
   * 421 WRONG_REGION with their region. Absent or empty: every region.
   */
  regions?: string[] | null;
  /** Change-log pruning (`relay.prune`); absent keys take DEFAULT_LOG_PRUNE's. */
  prune?: Partial<LogPruneSettings>;
}

export interface RunningRelay {
  /** Where the relay is bound: scheme, the real address (`0.0.0.0` when on every interface) and port. */
  url: string;
  /** The bound address, as the socket reports it. */
  address: string;
  port: number;
  db: RelayDatabase;
  app: FastifyInstance;
  /** This process's Automerge actor (never shared with another process). */
  actor: string;
  workspace(workspaceId: string): Promise<{ service: MemoryService; store: PgMemoryStore }>;
  close(): Promise<void>;
}

/** The multi-tenant relay: the daemon's /v1 API behind API keys, plus sync over WebSocket and HTTP. */
export async function startRelay(options: RelayOptions = {}): Promise<RunningRelay> {
  const log =
    options.logger ?? pino({ level: process.env.TRIBAL_MEMORY_LOG_LEVEL ?? "info" }, pino.destination(2));
  const host = options.host ?? DEFAULT_RELAY_HOST;
  const tls = options.tls ?? null;
  const behindProxy = options.behindProxy === true;
  const regions = parseRegions(options.regions);
  // Checked before anything opens: API keys never cross a network in the clear.
  if (!tls && !behindProxy && !isLoopbackHostname(host)) {
    throw new TribalError(
      "TLS_REQUIRED",
      `Refusing to serve plaintext HTTP on ${host}: API keys would cross the network in the clear. Pass --tls-cert and --tls-key, or --behind-proxy when a TLS proxy fronts the relay, or listen on 127.0.0.1.`,
      { host },
    );
  }
  // Keyless means whoever reaches the port owns every memory: this machine only, and not
  // behind a proxy (which would hand the internet's requests to loopback).
  if (options.singleTenant && (behindProxy || !isLoopbackHostname(host))) {
    throw new TribalError(
      "AUTH_DISABLED_OFF_LOOPBACK",
      `Refusing auth.enabled: false on ${host}${behindProxy ? " behind a proxy" : ""}: anyone who reaches it could read and write every memory without a key. Listen on 127.0.0.1 without --behind-proxy, or turn auth on and use the keys of \`tribalmemory relay init\`.`,
      { host },
    );
  }
  const ownsDb = !options.db;
  const db =
    options.db ??
    (await openDatabase({
      databaseUrl: options.databaseUrl,
      adminDatabaseUrl: options.adminDatabaseUrl,
      readDatabaseUrl: options.readDatabaseUrl,
      dataDir: options.dataDir,
      migrate: options.migrate,
    }));
  let anonymous: AuthContext | null = null;
  try {
    // Row-level security is what keeps workspaces apart; a superuser or BYPASSRLS role skips
    // it without a word, so every key would read every workspace.
    const role = await appRole(db);
    if (role.superuser || role.bypassRls) {
      const what = role.superuser ? "a superuser" : "a BYPASSRLS role";
      if (!options.allowRlsBypass) {
        throw new TribalError(
          "RLS_BYPASS_ROLE",
          `The database role "${role.name}" is ${what}: row-level security would not apply and every API key could read every workspace. Connect with a role without SUPERUSER/BYPASSRLS (--database-url) and run migrations as the owner (--admin-database-url), or pass --allow-rls-bypass for a single-tenant relay.`,
          { role: role.name },
        );
      }
      log.warn(
        { role: role.name, superuser: role.superuser, bypassrls: role.bypassRls },
        "ROW-LEVEL SECURITY IS OFF (--allow-rls-bypass): the database role skips it, so workspaces are NOT isolated from each other; use this relay for one tenant only",
      );
    }
    if (options.singleTenant) {
      anonymous = await ensureSingleTenant(db);
      log.warn(
        { workspace: anonymous.workspaceId },
        "auth.enabled: false: requests without an API key act as an admin of this one workspace (loopback only)",
      );
    }
  } catch (err) {
    if (ownsDb) await db.close().catch(() => undefined);
    throw err;
  }
  const throttle = new AuthThrottle(options.authThrottle);
  const actor = newActorId();
  const embedder = options.embedder ?? null;
  const quota =
    (options.quotas ?? !options.singleTenant) ? new QuotaGuard({ db, cacheMs: options.quotaCacheMs }) : null;
  const workspaces = new RelayWorkspaces({ db, actor, embedder, log, quota });
  const workspace = (workspaceId: string) => workspaces.workspace(workspaceId);
  const ingest = async (auth: AuthContext, changes: WireChange[], device: string | null) => {
    const outcome = await workspaces.ingest(auth, changes, device).catch((err) => {
      metrics.observePush([], true);
      throw err;
    });
    metrics.observePush(outcome.results, outcome.error !== null);
    return outcome;
  };
  const pruner = new LogPruner({ db, log, settings: { ...DEFAULT_LOG_PRUNE, ...options.prune } });
  const hub = new SyncHub({ db, log, workspace, ingest, onLogActivity: (id) => pruner.touch(id) });
  workspaces.onCommit = (workspaceId) => hub.wake(workspaceId);
  // Set first thing on close(): readiness answers 503 at once, so a load balancer drains us.
  let draining = false;
  const metrics = new RelayMetrics(RELAY_VERSION, {
    openSockets: () => hub.sessionCount(),
    syncBacklog: () => hub.backlog(),
    pendingWrites: () => workspaces.pendingWrites(),
    pool: () => db.poolStats?.() ?? null,
    draining: () => draining,
  });

  const app = Fastify({
    logger: false,
    bodyLimit: BODY_LIMITS.default,
    frameworkErrors: answerFrameworkError,
    // While draining, a request on a kept-alive connection is served (with Connection: close)
    // rather than refused with a bare 503: it is in flight as far as its client knows.
    return503OnClosing: false,
    ...(tls ? { https: { cert: tls.cert, key: tls.key } } : {}),
    // One hop: the proxy in front; entries a client put before it are not believed.
    ...(behindProxy ? { trustProxy: (_address: string, hop: number) => hop < 1 } : {}),
  }) as unknown as FastifyInstance;
  installServerBasics(app, log);
  // Loaded before the auth hook is added, so its own hooks run first: a refused upgrade's socket
  // is then closed after the answer (its onResponse), not left open.
  // Its preClose would close every socket at once without a code; drainRelay closes them with
  // 1001 after their pending acks.
  await app.register(websocket, {
    options: { maxPayload: MAX_SYNC_MESSAGE_BYTES },
    preClose: async () => undefined,
  });
  const { authOf, authorize } = installRelayAuth(app, { db, throttle, behindProxy, anonymous });
  installRegionGuard(app, { db, regions });
  installRequestRecording(app, db);
  if (quota) installQuotaHooks(app, quota);
  // Liveness, readiness and Prometheus metrics: no API key (health-routes.ts, metrics.ts).
  installMetrics(app, metrics, options.metricsToken ?? null);
  app.register(healthRoutes, {
    version: RELAY_VERSION,
    startedAt: Date.now(),
    readiness: new ReadinessCheck(db, () => draining),
  });

  // Session transcripts that daemons with `sync.sessions: true` send, and pull from each other.
  const relaySessions = createRelaySessions({
    app,
    db,
    embedder,
    workspaceOf: (req) => authOf(req).workspaceId,
    authorize,
  });

  app.register(workspaceApi, {
    version: RELAY_VERSION,
    db,
    authOf,
    authorize,
    workspace,
    sessionsFor: relaySessions.sessionsFor,
  });

  // The same ten tools as tribalmemory-mcp, over Streamable HTTP at /mcp, per key (mcp-routes.ts).
  app.register(mcpRoutes, { version: RELAY_VERSION, authOf, authorize });

  // The relay's own routes, one plugin each (sync-server/src/http/).
  const context = { db, authOf, authorize, workspace };
  app.register(keyRoutes, { db, authOf, authorize, onRevoke: (keyId) => hub.closeKey(keyId) });
  // Accounts: users, login sessions, workspaces, members, invitations, keys by session.
  const closeKeys = (keyIds: string[]) => {
    for (const keyId of keyIds) hub.closeKey(keyId);
  };
  app.register(accountRoutes, { db, throttle, behindProxy, secureCookies: Boolean(tls) || behindProxy });
  app.register(workspaceRoutes, { db, onKeysGone: closeKeys });
  app.register(memberRoutes, { db, onKeysGone: closeKeys });
  app.register(invitationRoutes, { db });
  app.register(workspaceKeyRoutes, { db, onRevoke: (keyId) => hub.closeKey(keyId) });
  app.register(usageRoutes, context);
  app.register(billingRoutes, {
    ...context,
    provider: options.billing?.stripe ? new StripeBilling(options.billing.stripe) : null,
    onPlanChanged: (workspaceId) => quota?.forget(workspaceId),
    log,
  });
  app.register(auditRoutes, context);
  // The web dashboard at / (login, signup, invitations): public files; its calls go to /v1.
  registerDashboard(app, { source: "relay" });
  app.register(exportRoutes, context);
  app.register(embedRoutes, { authorize, embedder });
  // The sync WebSocket: its upgrade passes the auth hook above like any request.
  app.register(syncSocket, { authOf, authorize, accept: (ws, auth) => hub.accept(ws, auth) });
  app.register(syncRoutes, {
    ...context,
    ingest,
    recordCursor: (workspaceId, device, cursor) => hub.recordCursor(workspaceId, device, null, cursor),
    service: async (workspaceId) => (await workspaces.workspace(workspaceId)).service,
  });

  const stopListening = await db.listen(EVENTS_CHANNEL, (payload) => {
    // A deleted workspace's cached service goes with it (`w:<workspace>`).
    if (payload.startsWith("w:")) workspaces.drop(payload.slice(2));
    hub.onEvent(payload);
  });

  try {
    await app.listen({ host, port: options.port ?? 18800 });
  } catch (err) {
    hub.close();
    metrics.close();
    await stopListening();
    if (ownsDb) await db.close().catch(() => undefined);
    throw err;
  }
  // The address the socket is really bound to, not the name it was given.
  const bound = app.server.address();
  const address = typeof bound === "object" && bound ? bound.address : host;
  const port = typeof bound === "object" && bound ? bound.port : (options.port ?? 18800);
  const url = `${tls ? "https" : "http"}://${isIPv6(address) ? `[${address}]` : address}:${port}`;
  log.info(
    { url, address, port, tls: Boolean(tls), behind_proxy: behindProxy, database: db.kind },
    "relay listening",
  );
  if (!options.metricsToken && !isLoopbackHostname(host))
    log.warn(
      { address, port },
      "GET /metrics is open to anyone who reaches this port (no metrics token): it shows request counts and queue depths, never workspace data. Set TRIBAL_MEMORY_METRICS_TOKEN, or keep /metrics off the public proxy",
    );

  // Expired memories are hidden at once; the sweep forgets them (and the deletions sync).
  const expiry = relayExpirySweeper({ db, workspace, log });
  expiry.start();
  pruner.start();

  let closing: Promise<void> | null = null;
  return {
    url,
    address,
    port,
    db,
    app,
    actor,
    workspace,
    close() {
      closing ??= (async () => {
        draining = true;
        await expiry.stop();
        await pruner.stop();
        await drainRelay({
          app,
          hub,
          log,
          deadlineMs: options.shutdownDeadlineMs ?? DEFAULT_SHUTDOWN_DEADLINE_MS,
        });
        await stopListening();
        metrics.close();
        if (ownsDb) await db.close();
        log.info("relay stopped");
      })();
      return closing;
    },
  };
}
