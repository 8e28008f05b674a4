import { readdirSync } from "node:fs";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { Counter, Gauge, Histogram, MetricsRegistry } from "./registry.ts";

/**
 * What the relay exposes at `GET /metrics`. Labels are route patterns, methods, statuses, error
 * codes and quota resources only: no workspace id, key, device or content ever becomes a label
 * or a value, so a scrape reveals traffic shape and nothing of any tenant.
 */

/** Read at scrape time from the parts that own them (the sync hub, the workspaces, the pool). */
export interface RelayMetricSources {
  /** Open sync WebSockets. */
  openSockets(): number;
  /** Bytes the sockets' send buffers still hold, and change batches sent but not yet applied. */
  syncBacklog(): { bufferedBytes: number; unappliedBatches: number };
  /** Writes waiting in the workspaces' write queues (remembers, edits, pushes). */
  pendingWrites(): number;
  /** The database pool; null for embedded PGlite (one connection, no pool). */
  pool(): { total: number; idle: number; waiting: number } | null;
  draining(): boolean;
}

/** Request latency buckets, seconds: a recall is ~5–50 ms, a large batch or import seconds. */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const METHODS = new Set(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]);

export class RelayMetrics {
  readonly registry = new MetricsRegistry();
  private readonly httpRequests: Counter;
  private readonly httpDuration: Histogram;
  private readonly quotaRefusals: Counter;
  private readonly authFailures: Counter;
  private readonly syncPushes: Counter;
  private readonly syncChanges: Counter;
  private readonly loopDelay = monitorEventLoopDelay({ resolution: 20 });

  constructor(version: string, sources: RelayMetricSources) {
    const r = this.registry;
    r.register(
      new Gauge("tribal_relay_info", "This relay's version (always 1).", ["version"], (set) =>
        set(1, { version }),
      ),
    );
    this.httpRequests = r.register(
      new Counter("tribal_http_requests_total", "HTTP requests answered, by route pattern and status.", [
        "method",
        "route",
        "status",
      ]),
    );
    this.httpDuration = r.register(
      new Histogram(
        "tribal_http_request_duration_seconds",
        "Time from request to response, by route pattern.",
        ["method", "route"],
        LATENCY_BUCKETS,
      ),
    );
    this.quotaRefusals = r.register(
      new Counter(
        "tribal_quota_refusals_total",
        "Requests refused for a plan limit (QUOTA_EXCEEDED, QUERY_QUOTA_EXCEEDED), by resource.",
        ["resource"],
      ),
    );
    this.authFailures = r.register(
      new Counter(
        "tribal_auth_failures_total",
        "Requests refused by authentication or authorization, by error code.",
        ["code"],
      ),
    );
    this.syncPushes = r.register(
      new Counter("tribal_sync_pushes_total", "Pushes (WebSocket or HTTP) ingested, refused ones included."),
    );
    this.syncChanges = r.register(
      new Counter(
        "tribal_sync_changes_total",
        "Pushed changes by outcome (stored, duplicate, purged, refused).",
        ["outcome"],
      ),
    );
    r.register(
      new Gauge("tribal_sync_sockets_open", "Open sync WebSockets.", [], (set) => set(sources.openSockets())),
    );
    r.register(
      new Gauge(
        "tribal_sync_send_buffered_bytes",
        "Bytes queued in the sync sockets' send buffers (slow or stalled clients).",
        [],
        (set) => set(sources.syncBacklog().bufferedBytes),
      ),
    );
    r.register(
      new Gauge(
        "tribal_sync_unapplied_batches",
        "Change batches sent to clients and not yet acknowledged as applied.",
        [],
        (set) => set(sources.syncBacklog().unappliedBatches),
      ),
    );
    r.register(
      new Gauge("tribal_write_queue_depth", "Writes waiting in the workspaces' write queues.", [], (set) =>
        set(sources.pendingWrites()),
      ),
    );
    r.register(
      new Gauge(
        "tribal_db_pool_connections",
        "Database pool connections by state (in_use, idle, waiting = requests queued for one).",
        ["state"],
        (set) => {
          const p = sources.pool();
          if (!p) return;
          set(p.total - p.idle, { state: "in_use" });
          set(p.idle, { state: "idle" });
          set(p.waiting, { state: "waiting" });
        },
      ),
    );
    r.register(
      new Gauge("tribal_relay_draining", "1 while the relay shuts down (readiness answers 503).", [], (set) =>
        set(sources.draining() ? 1 : 0),
      ),
    );
    this.registerProcessMetrics();
  }

  /** One answered HTTP request; `errorCode` is the error body's code, when there is one. */
  observeRequest(
    method: string,
    route: string | undefined,
    status: number,
    seconds: number,
    error: { code: string; resource?: unknown } | null,
  ): void {
    const labels = { method: METHODS.has(method) ? method : "OTHER", route: route ?? "unmatched" };
    this.httpRequests.inc({ ...labels, status: String(status) });
    this.httpDuration.observe(seconds, labels);
    if (!error) return;
    if (error.code === "QUERY_QUOTA_EXCEEDED") this.quotaRefusals.inc({ resource: "queries" });
    else if (error.code === "QUOTA_EXCEEDED")
      this.quotaRefusals.inc({ resource: quotaResource(error.resource) });
    else if (AUTH_FAILURES.has(error.code)) this.authFailures.inc({ code: error.code });
  }

  /** One push's outcome: its changes up to the first refused one, and that one. */
  observePush(results: { status: string }[], refused: boolean): void {
    this.syncPushes.inc();
    for (const r of results) this.syncChanges.inc({ outcome: r.status });
    if (refused) this.syncChanges.inc({ outcome: "refused" });
  }

  close(): void {
    this.loopDelay.disable();
  }

  private registerProcessMetrics(): void {
    const r = this.registry;
    this.loopDelay.enable();
    r.register(
      new Counter("process_cpu_user_seconds_total", "User CPU time spent.", [], (set) =>
        set(process.cpuUsage().user / 1e6),
      ),
    );
    r.register(
      new Counter("process_cpu_system_seconds_total", "System CPU time spent.", [], (set) =>
        set(process.cpuUsage().system / 1e6),
      ),
    );
    r.register(
      new Gauge("process_resident_memory_bytes", "Resident memory size.", [], (set) =>
        set(process.memoryUsage.rss()),
      ),
    );
    r.register(
      new Gauge("nodejs_heap_used_bytes", "V8 heap in use.", [], (set) =>
        set(process.memoryUsage().heapUsed),
      ),
    );
    r.register(
      new Gauge("process_start_time_seconds", "Start time since the epoch.", [], (set) =>
        set(Math.round(Date.now() / 1000 - process.uptime())),
      ),
    );
    r.register(
      new Gauge("process_open_fds", "Open file descriptors (Linux).", [], (set) => {
        try {
          set(readdirSync("/proc/self/fd").length);
        } catch {
          // not Linux: no series
        }
      }),
    );
    r.register(
      new Gauge(
        "nodejs_eventloop_delay_p99_seconds",
        "99th percentile event-loop delay since the previous scrape.",
        [],
        (set) => {
          set(this.loopDelay.percentile(99) / 1e9);
          this.loopDelay.reset();
        },
      ),
    );
  }
}

/** Codes a refused credential or scope answers with (a refused WebSocket upgrade included). */
const AUTH_FAILURES = new Set([
  "UNAUTHENTICATED",
  "API_KEY_REVOKED",
  "FORBIDDEN",
  "AUTH_RATE_LIMITED",
  "METRICS_TOKEN_REQUIRED",
]);

/** The quota's resource as a label: a short word, never free text (bounded series). */
function quotaResource(resource: unknown): string {
  return typeof resource === "string" && /^[a-z_]{1,32}$/.test(resource) ? resource : "other";
}
