import type { Logger } from "pino";
import type { RelayDatabase } from "../store/database.ts";
import { type PruneOptions, type PruneOutcome, pruneLogIn } from "../store/pg-snapshots.ts";

/** `relay.prune` settings, in milliseconds; see README "Change-log pruning". */
export interface LogPruneSettings {
  /** false: the log is kept whole (every change replayable forever). */
  enabled: boolean;
  /** A device not seen for this long no longer holds the log (default 30 days). */
  staleDeviceMs: number;
  /** Changes younger than this are kept (default 1 day). */
  keepMs: number;
  /** Time between passes (default 10 minutes). */
  intervalMs: number;
}

export const DEFAULT_LOG_PRUNE: LogPruneSettings = {
  enabled: true,
  staleDeviceMs: 30 * 86_400_000,
  keepMs: 86_400_000,
  intervalMs: 600_000,
};

/** Workspaces pruned per pass; each deletes at most PRUNE_BATCH changes. */
const WORKSPACES_PER_PASS = 20;

/** One workspace's pass (used by the pruner and the sync benchmark). */
export function pruneWorkspaceLog(
  db: RelayDatabase,
  workspaceId: string,
  options: PruneOptions,
): Promise<PruneOutcome> {
  return db.tx(workspaceId, (sql) => pruneLogIn(sql, workspaceId, options));
}

/**
 * The relay's change-log pruning job. It follows the workspaces whose log moved or that a device
 * joined, as this process hears of them (its own commits, other processes' NOTIFY, hellos): a
 * workspace nobody writes to has a log that does not grow, and is pruned at its next activity.
 * Each pass prunes up to WORKSPACES_PER_PASS of them by PRUNE_BATCH changes; a workspace with
 * more to delete comes back at the next pass, one that deleted some at the next interval; one
 * with nothing prunable (cursors or age hold it) is dropped until its log moves again.
 */
export class LogPruner {
  private readonly db: RelayDatabase;
  private readonly log: Logger;
  private readonly settings: LogPruneSettings;
  /** Workspace → when to look at it next (ms). */
  private readonly due = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = true;

  constructor(deps: { db: RelayDatabase; log: Logger; settings: LogPruneSettings }) {
    this.db = deps.db;
    this.log = deps.log;
    this.settings = deps.settings;
  }

  /** The workspace's log moved: look at it (not before its next interval if already followed). */
  touch(workspaceId: string): void {
    if (!this.settings.enabled || this.due.has(workspaceId)) return;
    this.due.set(workspaceId, Date.now() + this.settings.intervalMs);
  }

  start(): void {
    if (!this.settings.enabled) return;
    this.stopped = false;
    this.schedule(this.settings.intervalMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  /** One pass over the workspaces that are due; returns the changes deleted. */
  async pass(now = Date.now()): Promise<number> {
    const ready = [...this.due].filter(([, at]) => at <= now).sort((a, b) => a[1] - b[1]);
    let deleted = 0;
    for (const [workspaceId] of ready.slice(0, WORKSPACES_PER_PASS)) {
      try {
        const out = await pruneWorkspaceLog(this.db, workspaceId, this.settings);
        deleted += out.deleted;
        if (out.deleted)
          this.log.info(
            { workspaceId, deleted: out.deleted, horizon: out.horizon, more: out.more },
            "change log pruned",
          );
        // Nothing prunable now: dropped until its log moves again (its next commit or hello).
        if (!out.deleted && out.target <= out.horizon) this.due.delete(workspaceId);
        else this.due.set(workspaceId, out.more ? now : now + this.settings.intervalMs);
      } catch (err) {
        this.log.warn(
          { err: (err as Error).message, workspaceId },
          "change-log pruning failed; retried later",
        );
        this.due.set(workspaceId, now + this.settings.intervalMs);
      }
    }
    return deleted;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.pass()
        .then((deleted) => {
          const busy = [...this.due.values()].some((at) => at <= Date.now());
          this.schedule(busy && deleted ? 0 : this.settings.intervalMs);
        })
        .finally(() => {
          this.running = null;
        });
    }, ms);
    this.timer.unref();
  }
}
