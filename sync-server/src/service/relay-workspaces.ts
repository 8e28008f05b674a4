import type { EmbedderInfo } from "@tribalmemory/shared/service/memory-service";
import { MemoryService } from "@tribalmemory/shared/service/memory-service";
import { decodeWireChange } from "@tribalmemory/shared/sync/apply";
import { decodeVector, type WireChange } from "@tribalmemory/shared/sync/protocol";
import type { Logger } from "pino";
import type { AuthContext } from "../auth/api-keys.ts";
import { recordRequest } from "../http/request-record.ts";
import type { QuotaGuard } from "../plans/quota.ts";
import type { RelayDatabase } from "../store/database.ts";
import { type IngestItem, type IngestOutcome, PgMemoryStore } from "../store/pg-store.ts";

export interface RelayWorkspace {
  service: MemoryService;
  store: PgMemoryStore;
}

export function wireToIngest(changes: WireChange[]): IngestItem[] {
  // Decode everything before touching the database: a malformed or forged change refuses the
  // whole message with a code and changes nothing.
  return changes.map((w) => ({
    change: decodeWireChange(w),
    embedding: w.embedding
      ? {
          modelId: w.embedding.model_id,
          contentHash: w.embedding.content_hash,
          vector: decodeVector(w.embedding.vector),
        }
      : null,
  }));
}

export interface RelayWorkspacesDeps {
  db: RelayDatabase;
  actor: string;
  embedder: EmbedderInfo | null;
  log: Logger;
  /** The plans' limits: memories in every ingest, agents on every push (plans/quota.ts). */
  quota: QuotaGuard | null;
}

/**
 * Each workspace's store and memory service, opened once per process and shared by the HTTP
 * routes and the sync sockets; and the one path by which pushed changes enter a workspace.
 */
export class RelayWorkspaces {
  private readonly open = new Map<string, Promise<RelayWorkspace>>();
  /** The services of `open` once opened, read synchronously at scrape time. */
  private readonly services = new Map<string, MemoryService>();
  /** Called after a commit in a workspace (the sync hub wakes its sockets). */
  onCommit: (workspaceId: string) => void = () => undefined;

  private readonly deps: RelayWorkspacesDeps;

  constructor(deps: RelayWorkspacesDeps) {
    this.deps = deps;
  }

  workspace(workspaceId: string): Promise<RelayWorkspace> {
    let w = this.open.get(workspaceId);
    if (!w) {
      w = this.openWorkspace(workspaceId);
      w.catch(() => this.open.delete(workspaceId));
      this.open.set(workspaceId, w);
    }
    return w;
  }

  /** Forget a workspace's cached service (after the workspace is deleted). */
  drop(workspaceId: string): void {
    this.open.delete(workspaceId);
    this.services.delete(workspaceId);
  }

  /** Writes waiting in the open workspaces' write queues (the metrics' queue depth). */
  pendingWrites(): number {
    let n = 0;
    for (const service of this.services.values()) n += service.pendingWrites;
    return n;
  }

  private async openWorkspace(workspaceId: string): Promise<RelayWorkspace> {
    const { db, actor, embedder, log } = this.deps;
    const store = new PgMemoryStore(db, workspaceId, { actor });
    store.onCommit = () => this.onCommit(workspaceId);
    store.quota = this.deps.quota?.ingestQuota(workspaceId) ?? null;
    const service = new MemoryService({ store, actor, instanceId: "relay" });
    this.services.set(workspaceId, service);
    if (embedder) {
      await service.setEmbedder(embedder);
      void service
        .scheduleBackfill()
        .catch((err) => log.warn({ err: (err as Error).message }, "backfill failed"));
    }
    return { service, store };
  }

  /** Pushed changes (WebSocket or HTTP) into the workspace of the key that sent them. */
  async ingest(auth: AuthContext, changes: WireChange[], device: string | null): Promise<IngestOutcome> {
    const items = wireToIngest(changes);
    // A sync device is an agent of the plan: a new one past the limit pushes nothing.
    if (device) await this.deps.quota?.admitAgent(auth.workspaceId, device, "device");
    const { store, service } = await this.workspace(auth.workspaceId);
    // In the service's write queue, so this process's cached documents of the touched memories
    // are dropped (another process's cache is harmless: the store merges every write).
    const outcome = await service.writeBeside(async () => {
      const o = await store.ingest(items, device);
      return { value: o, touchedIds: o.touched };
    });
    const stored = outcome.results.filter((r) => r.status === "stored").length;
    if (stored) {
      await recordRequest(
        this.deps.db,
        auth,
        { action: "sync.push", target: device, details: { stored, received: changes.length } },
        // Each change stored is a write made on a device, metered like an HTTP write.
        { field: "writes", n: stored },
        device,
      );
      // Vectors of another model (or none) are recomputed here, off the push path.
      const embedder = this.deps.embedder;
      if (embedder && items.some((i) => !i.embedding || i.embedding.modelId !== embedder.provider.modelId)) {
        void service.scheduleBackfill().catch(() => undefined);
      }
    }
    return outcome;
  }
}
