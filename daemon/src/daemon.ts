import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { DaemonConfig } from "@tribalmemory/shared/config/config";
import { ensureLocalToken, localTokenPath } from "@tribalmemory/shared/config/local-token";
import { daemonInfoPath, TRIBAL_MEMORY_VERSION } from "@tribalmemory/shared/config/paths";
import { chooseEmbedder } from "@tribalmemory/shared/embed/select-embedder";
import { TribalError } from "@tribalmemory/shared/errors";
import { isLoopbackHostname } from "@tribalmemory/shared/http/loopback";
import { embeddingHealth } from "@tribalmemory/shared/service/embedding-calls";
import { ExpirySweeper, sweepExpired } from "@tribalmemory/shared/service/expiry-sweep";
import { MemoryService } from "@tribalmemory/shared/service/memory-service";
import type { FastifyInstance } from "fastify";
import pino, { type Logger } from "pino";
import { installActor } from "./actor.ts";
import { buildDaemonApp } from "./http/app.ts";
import { lockDataDir } from "./lock.ts";
import { createDaemonSessions, type DaemonSessions } from "./sessions/daemon-sessions.ts";
import type { IndexOpenReport } from "./store/persisted-vector-index.ts";
import { SqliteMemoryStore } from "./store/sqlite-store.ts";
import { SyncClient } from "./sync/sync-client.ts";

export { daemonInfoPath };
export const DAEMON_VERSION = TRIBAL_MEMORY_VERSION;

export interface EmbedderState {
  status: "none" | "loading" | "ready" | "failed";
  model: string | null;
  error: string | null;
  backfill: { done: number; total: number } | null;
  /** How to get a better model (auto without bge weights): `tribalmemory models pull …`. */
  hint?: string;
}

export interface RunningDaemon {
  url: string;
  port: number;
  config: DaemonConfig;
  service: MemoryService;
  store: SqliteMemoryStore;
  sessions: DaemonSessions;
  embedder: EmbedderState;
  /** Resolves when the embedder has loaded and the backfill finished (or failed). */
  embedderReady: Promise<void>;
  /** The HTTP app, for tests that read its route table. */
  app: FastifyInstance;
  close(): Promise<void>;
}

export async function startDaemon(
  config: DaemonConfig,
  options: { logger?: Logger } = {},
): Promise<RunningDaemon> {
  const log =
    options.logger ?? pino({ level: process.env.TRIBAL_MEMORY_LOG_LEVEL ?? "info" }, pino.destination(2));
  const offLoopback = !isLoopbackHostname(config.host);
  if (offLoopback && !config.access.requireToken) {
    throw new TribalError(
      "NON_LOOPBACK_WITHOUT_TOKEN",
      `Refusing to listen on ${config.host}: off loopback, anyone who reaches this address could read, ` +
        "overwrite and export every memory. Pass --require-token (or set server.require_token: true " +
        `in ${config.configPath}) so every request needs the token in ${localTokenPath(config.home)}, ` +
        "or listen on 127.0.0.1.",
    );
  }
  const token = ensureLocalToken(config.home);
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const lock = lockDataDir(config.dataDir);
  let store: SqliteMemoryStore;
  /** How the vector index was opened, once it is (health). */
  let vectorIndex: IndexOpenReport | null = null;
  try {
    store = new SqliteMemoryStore({
      path: join(config.dataDir, "memories.db"),
      onReindex: (done, total) =>
        log.info({ done, total }, "rebuilding the keyword index (once, for threads)"),
      onVectorIndex: (r) => {
        vectorIndex = r;
        log.info(r, r.from === "snapshot" ? "vector index read" : "vector index rebuilt from the database");
      },
    });
  } catch (err) {
    lock.release();
    throw err;
  }
  const actor = installActor(store, config.dataDir);
  let sync: SyncClient | null = null;
  const service = new MemoryService({
    store,
    actor,
    instanceId: config.instanceId,
    maxContentBytes: config.maxContentBytes,
    onWrite: () => sync?.notifyWrite(),
    redactSecrets: config.redaction.enabled,
    log,
    // The row is written while the model embeds (remember-overlap.ts): remember ≈ the model's cost.
    vectorsAfterRows: true,
  });
  if (config.sync.enabled && config.sync.cloudUrl && config.sync.apiKey) {
    sync = new SyncClient({
      store,
      service,
      actor,
      cloudUrl: config.sync.cloudUrl,
      apiKey: config.sync.apiKey,
      allowInsecure: config.sync.allowInsecure,
      log,
      // Tests restart relays often; production keeps the 30 s ceiling.
      backoffMaxMs: Number(process.env.TRIBAL_MEMORY_SYNC_BACKOFF_MAX_MS) || undefined,
      // sync.interval: how often the outbox is flushed and a silent socket noticed.
      ...(config.sync.intervalMs ? { tickMs: config.sync.intervalMs } : {}),
    });
  }
  const sessions = createDaemonSessions({ config, store, memories: service, log, syncClient: sync });
  const embedder: EmbedderState = { status: "none", model: null, error: null, backfill: null };
  let closing = false;
  let running: RunningDaemon;
  let boundPort = config.port;
  const app = buildDaemonApp({
    service,
    version: DAEMON_VERSION,
    sessions,
    logger: log,
    healthExtras: () => ({
      embedding: {
        ...embedder,
        stats: embeddingHealth(service.embeddingCalls, service.embedding?.provider ?? null),
      },
      // The index is read off the main thread after start: recall answers meanwhile (vector
      // search waits for it), so a client can see why the first vector results are slower.
      vector_index: { state: store.vectorIndexState(), ...vectorIndex },
      keyword_index: { scorer: store.keywordScorer, term_stats: store.termStats.status() },
      // An older release's names and dates, re-extracted in the background (entity-reindex.ts).
      entity_index: store.entityReindex.status(),
      data_dir: config.dataDir,
      pid: process.pid,
      sync: sync ? sync.status() : { enabled: false },
    }),
    onShutdown: () => void running.close().then(() => process.exit(0)),
    guard: {
      port: () => boundPort,
      bindHost: config.host,
      allowedHosts: config.access.allowedHosts,
      allowedOrigins: config.access.allowedOrigins,
      token,
      tokenPath: localTokenPath(config.home),
      tokenEverywhere: offLoopback || config.access.requireToken,
    },
  });
  app.get("/v1/sync/status", async () => (sync ? sync.status() : { enabled: false }));
  try {
    await app.listen({ host: config.host, port: config.port });
  } catch (err) {
    await store.close();
    lock.release();
    throw err;
  }
  const address = app.server.address();
  const port = typeof address === "object" && address ? address.port : config.port;
  boundPort = port;
  // A wildcard address is reached through loopback here, which is also where clients send the token.
  const reachAt = config.host === "0.0.0.0" ? "127.0.0.1" : config.host === "::" ? "::1" : config.host;
  const url = `http://${reachAt.includes(":") ? `[${reachAt}]` : reachAt}:${port}`;
  writeFileSync(
    daemonInfoPath(config.dataDir),
    JSON.stringify({ pid: process.pid, port, url, version: DAEMON_VERSION }),
    {
      mode: 0o600,
    },
  );
  log.info({ url, dataDir: config.dataDir, instance: config.instanceId }, "tribalmemoryd listening");
  if (store.keywordScorer === "bm25")
    log.warn(
      "keyword search ranks with FTS5's bm25(): the same order, slower past ~100k memories; the scorer is not built (install a C compiler, then node daemon/native/build.ts or reinstall) or TRIBAL_MEMORY_FTS_SCORER=bm25 is set",
    );
  if (offLoopback) {
    log.warn({ host: config.host }, "listening off loopback: every request needs the local token");
  }
  sync?.start();
  // Expired memories are hidden at once; the sweep forgets them (and the deletions sync).
  const expiry = new ExpirySweeper({ pass: () => sweepExpired(service, { nowMs: Date.now() }), log });
  expiry.start();
  await sessions
    .start()
    .catch((err) => log.warn({ err: (err as Error).message }, "transcript watcher did not start"));

  const choice = chooseEmbedder(config);
  // Ends a load that waits for an unreachable embedding endpoint, so close() does not wait on it.
  const stopLoading = new AbortController();
  const embedderReady = (async () => {
    if (!choice) {
      log.warn("no embedding model configured: keyword recall only");
      return;
    }
    embedder.status = "loading";
    embedder.model = choice.describe;
    if (choice.hint) {
      embedder.hint = choice.hint;
      log.warn({ hint: choice.hint }, "a better embedding model is available");
    }
    const started = Date.now();
    try {
      const info = await choice.load({
        signal: stopLoading.signal,
        onWaiting: (err, retryInMs) => {
          embedder.error = err.message;
          log.warn(
            { err: err.message, retryInMs },
            "embedding endpoint unreachable: keyword recall until it answers",
          );
        },
      });
      embedder.error = null;
      if (closing) {
        await info.provider.close();
        return;
      }
      await service.setEmbedder(info);
      service.embeddingCalls.onError = (err, kind) =>
        log.warn(
          { err: err.message, kind },
          "embedding failed: keyword recall and no vector until the model answers",
        );
      embedder.status = "ready";
      log.info({ model: info.provider.modelId, ms: Date.now() - started }, "embedding model loaded");
      let lastLog = 0;
      service.onBackfillProgress = (done, total) => {
        embedder.backfill = { done, total };
        if (Date.now() - lastLog > 2000 || done === total) {
          lastLog = Date.now();
          log.info({ done, total }, "embedding backfill progress");
        }
      };
      const missing = await store.countMissingEmbeddings();
      if (missing > 0) {
        embedder.backfill = { done: 0, total: missing };
        log.info({ total: missing }, "backfilling embeddings");
        await service.scheduleBackfill();
      }
    } catch (err) {
      if (closing) return;
      embedder.status = "failed";
      embedder.error = (err as Error).message;
      log.error({ err: (err as Error).message }, "embedding model failed to load: keyword recall only");
    }
  })();

  running = {
    url,
    port,
    config,
    service,
    store,
    sessions,
    embedder,
    embedderReady,
    app,
    async close() {
      if (closing) return;
      closing = true;
      stopLoading.abort();
      await expiry.stop();
      await sync?.stop();
      await app.close();
      await sessions.close();
      await embedderReady.catch(() => undefined);
      await service.embedding?.provider.close();
      await store.close();
      rmSync(daemonInfoPath(config.dataDir), { force: true });
      lock.release();
      log.info("tribalmemoryd stopped");
    },
  };
  return running;
}
