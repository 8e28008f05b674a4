import type { RelayDatabase } from "../store/database.ts";
import { MIGRATION_VERSIONS } from "../store/migrations.ts";
import { appliedMigrationVersions } from "../store/pg-schema-state.ts";

export interface Readiness {
  ready: boolean;
  /** Why not, one line each: database unreachable, schema outdated, shutting down. */
  reasons: string[];
  /** Versions this build needs that `schema_migrations` lacks (empty when unknown or none). */
  missingMigrations: number[];
}

/**
 * A load balancer polls readiness every few seconds; a stopped database makes a pool connect
 * hang up to its 10 s connect timeout. The answer is given after `timeoutMs` at most, and
 * polls that arrive meanwhile share one check instead of queueing one query each.
 */
export class ReadinessCheck {
  private inflight: Promise<Readiness> | null = null;
  private readonly db: RelayDatabase;
  private readonly draining: () => boolean;
  private readonly timeoutMs: number;
  /** The versions this build needs (a test passes a later one to see "schema outdated"). */
  private readonly expected: readonly number[];

  constructor(
    db: RelayDatabase,
    draining: () => boolean,
    options: { timeoutMs?: number; expected?: readonly number[] } = {},
  ) {
    this.db = db;
    this.draining = draining;
    this.timeoutMs = options.timeoutMs ?? 2_000;
    this.expected = options.expected ?? MIGRATION_VERSIONS;
  }

  check(): Promise<Readiness> {
    // Draining answers at once, without the database (which is about to close).
    if (this.draining())
      return Promise.resolve({
        ready: false,
        reasons: ["shutting down: finishing in-flight requests and sync pushes"],
        missingMigrations: [],
      });
    this.inflight ??= this.run().finally(() => {
      this.inflight = null;
    });
    return this.inflight;
  }

  private async run(): Promise<Readiness> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer in ${this.timeoutMs} ms`)), this.timeoutMs);
    });
    let applied: number[];
    try {
      applied = await Promise.race([appliedMigrationVersions(this.db), timeout]);
    } catch (err) {
      return {
        ready: false,
        reasons: [`database unreachable: ${((err as Error).message || String(err)).slice(0, 200)}`],
        missingMigrations: [],
      };
    } finally {
      clearTimeout(timer);
    }
    const have = new Set(applied);
    const missing = this.expected.filter((v) => !have.has(v));
    if (missing.length)
      return {
        ready: false,
        reasons: [`schema outdated: migrations ${missing.join(", ")} of this build are not applied`],
        missingMigrations: missing,
      };
    // A draining that began while the query ran still wins.
    if (this.draining()) return this.check();
    return { ready: true, reasons: [], missingMigrations: [] };
  }
}
