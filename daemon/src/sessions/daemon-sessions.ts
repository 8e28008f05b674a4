import type { DaemonConfig } from "@tribalmemory/shared/config/config";
import type { MemoryService } from "@tribalmemory/shared/service/memory-service";
import { SessionService } from "@tribalmemory/shared/sessions/session-service";
import { checkRelayUrl } from "@tribalmemory/shared/sync/relay-url";
import type { Logger } from "pino";
import { SqliteSessionSyncStore } from "../store/session-sync-store.ts";
import { SqliteSessionStore } from "../store/sqlite-session-store.ts";
import type { SqliteMemoryStore } from "../store/sqlite-store.ts";
import { WatchOffsetsStore } from "../store/watch-offsets-store.ts";
import { SessionStream } from "../sync/session-stream.ts";
import type { SyncClient } from "../sync/sync-client.ts";
import { TranscriptWatcher } from "./transcript-watcher.ts";

export interface DaemonSessions {
  service: SessionService;
  watcher: TranscriptWatcher | null;
  /** Sharing through the relay's sync socket (only with `sync.enabled && sync.sessions`). */
  sync: SessionStream | null;
  /** Start following transcript folders (after the HTTP server listens). */
  start(): Promise<void>;
  close(): Promise<void>;
  statsExtras(): Record<string, unknown>;
}

/** How often chunks stored without a vector are embedded and retention is applied. */
const MAINTENANCE_MS = 60_000;

/** The daemon's session transcripts: store, service, watcher and upkeep, wired once. */
export function createDaemonSessions(options: {
  config: DaemonConfig;
  store: SqliteMemoryStore;
  memories: MemoryService;
  log: Logger;
  /** The memory sync client: with `sync.sessions`, transcripts ride its socket as a second stream. */
  syncClient?: SyncClient | null;
}): DaemonSessions {
  const { config, store, memories, log } = options;
  const service = new SessionService({
    store: new SqliteSessionStore(store.db),
    embedder: () => memories.embedding,
    instanceId: config.instanceId,
    retentionDays: config.sessions.retentionDays,
    redactSecrets: config.redaction.enabled,
  });
  const { sessions: shareSessions, cloudUrl, allowInsecure } = config.sync;
  const client = options.syncClient ?? null;
  // The same socket and Bearer key as the memory sync, so the same plaintext rule (the client
  // refuses the whole socket); said here too, so a user who asked for sessions reads why.
  const refusal = cloudUrl ? checkRelayUrl(cloudUrl, { allowInsecure }) : null;
  if (client && shareSessions && refusal) {
    log.error({ code: refusal.code }, `session sync off: ${refusal.message}`);
  }
  const sync =
    client && shareSessions && cloudUrl && !refusal
      ? new SessionStream({
          store: new SqliteSessionSyncStore(store, cloudUrl),
          ingestLocal: service.ingest.bind(service),
        })
      : null;
  if (sync && client) {
    client.attachSessions(sync);
    // Every local ingest (watcher or API) is followed by a push, off the ingest's path.
    const ingestLocal = service.ingest.bind(service);
    service.ingest = async (body) => {
      const outcome = await ingestLocal(body);
      if (outcome.messages_processed > 0) client.notifyWrite();
      return outcome;
    };
  }
  const watcher = config.sessions.watch
    ? new TranscriptWatcher({
        offsets: new WatchOffsetsStore(store.db),
        sessions: service,
        folders: config.sessions.folders,
        log,
      })
    : null;
  let timer: NodeJS.Timeout | null = null;
  let maintaining: Promise<void> = Promise.resolve();
  const maintain = async () => {
    try {
      const pruned = await service.prune();
      if (pruned.chunks || pruned.messages) log.info(pruned, "session retention applied");
      let n = 0;
      for (let round = 0; round < 8; round++) {
        const done = await service.backfillVectors();
        n += done;
        if (!done) break;
      }
      if (n) log.info({ chunks: n }, "session chunks embedded");
    } catch (err) {
      log.warn({ err: (err as Error).message }, "session maintenance failed");
    }
  };
  return {
    service,
    watcher,
    sync,
    async start() {
      maintaining = maintain();
      timer = setInterval(() => {
        maintaining = maintaining.then(maintain);
      }, MAINTENANCE_MS);
      timer.unref();
      if (watcher) await watcher.start();
    },
    async close() {
      if (timer) clearInterval(timer);
      await watcher?.close();
      await maintaining;
    },
    statsExtras: () => ({
      local_only: !sync,
      sync: sync ? sync.status() : { enabled: false },
      watcher: watcher ? { folders: config.sessions.folders, ...watcher.stats } : null,
    }),
  };
}
