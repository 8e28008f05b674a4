import type { MemoryService, ServiceLog } from "./memory-service.ts";

/**
 * The expiry sweep: memories past their `expires_at` (memory/expiry.ts) are already hidden
 * from every read by the stores' filter; the sweep forgets them for good, as ordinary
 * deletions, so the tombstone syncs to every replica like a user's forget. Each pass forgets
 * a bounded batch, so a workspace with a million expired rows never holds the write queue for
 * long; a full batch schedules the next pass at once.
 */

/** Memories forgotten per pass (one write each, in the service's write queue). */
export const EXPIRY_SWEEP_BATCH = 200;
/** How often a sweeper looks (ms); TRIBAL_MEMORY_EXPIRY_SWEEP_MS overrides it (tests use ~200). */
export const EXPIRY_SWEEP_INTERVAL_MS = 60_000;

export function expirySweepIntervalMs(env: NodeJS.ProcessEnv = process.env): number {
  const v = Number(env.TRIBAL_MEMORY_EXPIRY_SWEEP_MS);
  return Number.isFinite(v) && v > 0 ? v : EXPIRY_SWEEP_INTERVAL_MS;
}

/** Forget up to `limit` memories of the service's store that expired by `nowMs`; how many it forgot. */
export async function sweepExpired(
  service: MemoryService,
  options: { nowMs: number; limit?: number },
): Promise<number> {
  const page = await service.store.list({
    filters: { expiredAt: options.nowMs, includeSuperseded: true },
    limit: options.limit ?? EXPIRY_SWEEP_BATCH,
    cursor: null,
  });
  let forgotten = 0;
  for (const m of page.memories) {
    await service.forget(m.id);
    forgotten++;
  }
  return forgotten;
}

/**
 * Runs a sweep every `intervalMs` (a pass returns how many it forgot; a full batch runs the
 * next pass at once). One pass at a time; `stop()` waits for the running one.
 */
export class ExpirySweeper {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;
  private readonly pass: () => Promise<number>;
  private readonly intervalMs: number;
  private readonly log: ServiceLog | null;
  private readonly batch: number;

  constructor(options: {
    pass: () => Promise<number>;
    intervalMs?: number;
    batch?: number;
    log?: ServiceLog | null;
  }) {
    this.pass = options.pass;
    this.intervalMs = options.intervalMs ?? expirySweepIntervalMs();
    this.batch = options.batch ?? EXPIRY_SWEEP_BATCH;
    this.log = options.log ?? null;
  }

  start(): void {
    this.stopped = false;
    this.schedule(this.intervalMs);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.runOnce().finally(() => {
        this.running = null;
      });
    }, ms);
    this.timer.unref();
  }

  private async runOnce(): Promise<void> {
    let forgotten = 0;
    try {
      forgotten = await this.pass();
      if (forgotten) this.log?.info({ forgotten }, "expired memories forgotten");
    } catch (err) {
      this.log?.info({ err: (err as Error).message }, "expiry sweep failed; retried at the next interval");
    }
    this.schedule(forgotten >= this.batch ? 0 : this.intervalMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }
}
