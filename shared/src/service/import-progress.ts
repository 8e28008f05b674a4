import type { MemoryService } from "./memory-service.ts";
import type { ImportSummary } from "./portability.ts";

const PROGRESS_LOG_MS = 2000;

/** Progress of the imports running on a service: `/v1/health` shows it, the log prints it. */
export interface ImportStatus {
  running: boolean;
  /** Imports in progress now (several clients may import at once). */
  active: number;
  done: number;
  /** Entries expected, when the bundle or manifest says; null while unknown. */
  total: number | null;
  imported: number;
  errors: number;
  started_at: string | null;
  finished_at: string | null;
  /** The last import's failure, if it failed. */
  error?: string;
}

interface ImportRun {
  done: number;
  total: number | null;
  imported: number;
  errors: number;
  startedAt: string;
}

const runsByService = new WeakMap<MemoryService, { active: Set<ImportRun>; last: ImportStatus | null }>();

/** For /v1/health: the imports running now (summed), else the last one. */
export function importStatus(service: MemoryService): ImportStatus {
  const board = runsByService.get(service);
  const active = board ? [...board.active] : [];
  if (!active.length) {
    return (
      board?.last ?? {
        running: false,
        active: 0,
        done: 0,
        total: null,
        imported: 0,
        errors: 0,
        started_at: null,
        finished_at: null,
      }
    );
  }
  return {
    running: true,
    active: active.length,
    done: active.reduce((s, r) => s + r.done, 0),
    total: active.every((r) => r.total !== null) ? active.reduce((s, r) => s + (r.total ?? 0), 0) : null,
    imported: active.reduce((s, r) => s + r.imported, 0),
    errors: active.reduce((s, r) => s + r.errors, 0),
    started_at: active[0].startedAt,
    finished_at: null,
  };
}

export function startImportProgress(service: MemoryService, total: number | null) {
  let board = runsByService.get(service);
  if (!board) {
    board = { active: new Set(), last: null };
    runsByService.set(service, board);
  }
  const run: ImportRun = { done: 0, total, imported: 0, errors: 0, startedAt: new Date().toISOString() };
  board.active.add(run);
  const b = board;
  const t0 = performance.now();
  let lastLog = t0;
  const fields = () => ({
    done: run.done,
    total: run.total,
    imported: run.imported,
    errors: run.errors,
    per_s: Math.round(run.done / Math.max(0.001, (performance.now() - t0) / 1000)),
  });
  service.log?.info({ total }, "import started");
  return {
    get done() {
      return run.done;
    },
    set done(n: number) {
      run.done = n;
    },
    set total(n: number | null) {
      run.total = n;
    },
    report(summary: ImportSummary) {
      run.imported = summary.imported;
      run.errors = summary.errors;
      if (performance.now() - lastLog >= PROGRESS_LOG_MS) {
        lastLog = performance.now();
        service.log?.info(fields(), "import progress");
      }
    },
    finish(summary: ImportSummary, err: Error | null) {
      run.imported = summary.imported;
      run.errors = summary.errors;
      run.total ??= run.done;
      b.active.delete(run);
      b.last = {
        running: false,
        active: 0,
        done: run.done,
        total: run.total,
        imported: run.imported,
        errors: run.errors,
        started_at: run.startedAt,
        finished_at: new Date().toISOString(),
        ...(err ? { error: err.message } : {}),
      };
      service.log?.info(fields(), "import progress");
      service.log?.info(
        { ...fields(), ms: Math.round(performance.now() - t0), failed: !!err },
        "import finished",
      );
    },
  };
}

// ------------------------------------------------------------------ JSONL reading
