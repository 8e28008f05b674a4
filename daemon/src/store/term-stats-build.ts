import { setTimeout as delay } from "node:timers/promises";
import { Worker } from "node:worker_threads";
import { runtimeModuleUrl } from "@tribalmemory/shared/config/install-layout";
import type Database from "better-sqlite3";
import { ftsTerm } from "./informative-terms.ts";
import {
  countsHold,
  readTermStatsInfo,
  TERM_STATS_FROM,
  TERM_STATS_META,
  TERM_STATS_MIN_DF,
  type TermStatsInfo,
  tokenSql,
} from "./term-stats.ts";

/**
 * Makes `term_stats` (term-stats.ts) on `db`, a connection with the scorer loaded: every token in
 * at least `minDf` memories, with its count over every column (FTS5's vocabulary, one pass over
 * the index) and over the memories' own columns (a count of that token alone). A token the
 * tokenizer would change again (porter's stem of a stem) is left out: a query cannot name it.
 * Replaces the table and its meta row in one transaction; returns null when `stop` said so first.
 */
export function buildTermStats(
  db: Database.Database,
  options: { minDf?: number; stop?: () => boolean } = {},
): TermStatsInfo | null {
  const started = performance.now();
  const minDf = options.minDf ?? TERM_STATS_MIN_DF;
  const stop = options.stop ?? (() => false);
  const { docs, top } = db
    .prepare("SELECT count(*) AS docs, coalesce(max(rid), 0) AS top FROM memories")
    .get() as { docs: number; top: number };
  db.exec(
    "CREATE VIRTUAL TABLE IF NOT EXISTS temp.term_stats_vocab USING fts5vocab(main, memories_fts, row)",
  );
  if (stop()) return null;
  const common = db
    .prepare(
      `SELECT term, doc, ${tokenSql("term")} IS term AS kept FROM temp.term_stats_vocab WHERE doc >= ?`,
    )
    .all(minDf) as { term: string; doc: number; kept: number }[];
  const own = db.prepare("SELECT count(*) AS n FROM memories_fts WHERE memories_fts MATCH ?").pluck();
  const rows: [string, number, number][] = [];
  for (const { term, doc, kept } of common) {
    if (stop()) return null;
    if (kept) rows.push([term, own.get(`{content tags} : ${ftsTerm(term)}`) as number, doc]);
  }
  const info: TermStatsInfo = {
    docs,
    top,
    tokens: rows.length,
    minDf,
    builtAt: new Date().toISOString(),
    ms: Math.round(performance.now() - started),
  };
  const insert = db.prepare("INSERT INTO term_stats (token, own, every) VALUES (?, ?, ?)");
  db.transaction(() => {
    db.prepare("DELETE FROM term_stats").run();
    for (const row of rows) insert.run(row);
    db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)").run(
      TERM_STATS_META,
      JSON.stringify(info),
    );
  }).immediate();
  return info;
}

export interface TermStatsOptions {
  /** Build from this many memories (the highest rowid); default `TERM_STATS_FROM`. */
  from?: number;
  minDf?: number;
  /** Quiet time after writes before it checks again; default 10 s. */
  idleMs?: number;
}

/** What term-stats-worker.ts is given, and says when done. */
export interface TermStatsJob {
  path: string;
  minDf: number;
  /** Set to 1 by `close`: the build stops at its next token. */
  stop: SharedArrayBuffer;
}
export type TermStatsReply = { info: TermStatsInfo | null } | { error: string };

/**
 * Keeps a file store's `term_stats` current: at open and once writes have been quiet for a
 * while, a store of `from` memories or more whose counts no longer hold (or never were made) is
 * counted again on a worker thread (term-stats-worker.ts, its own connection). `ready` settles
 * when no build is running.
 */
export class TermStatsKeeper {
  private readonly db: Database.Database;
  private readonly path: string | null;
  private readonly from: number;
  private readonly minDf: number;
  private readonly idleMs: number;
  private running: { done: Promise<void>; stop: Int32Array } | null = null;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  /** The last build's outcome, for /v1/health. */
  last: TermStatsReply | null = null;

  /** `path`: the database file, or null (no worker: an in-memory store, or no scorer). */
  constructor(db: Database.Database, path: string | null, options: TermStatsOptions = {}) {
    this.db = db;
    this.path = path;
    this.from = options.from ?? TERM_STATS_FROM;
    this.minDf = options.minDf ?? TERM_STATS_MIN_DF;
    this.idleMs = options.idleMs ?? 10_000;
  }

  /** Starts a build if one is due and none runs (`atOpen`: also when purges shrank the store by a tenth). */
  check(atOpen = false): void {
    if (!this.path || this.closed || this.running || !this.db.open) return;
    const top = (this.db.prepare("SELECT coalesce(max(rid), 0) AS n FROM memories").get() as { n: number }).n;
    if (top < this.from) return;
    const info = readTermStatsInfo(this.db);
    // Growth moves the highest rowid (an index lookup); purges only shrink the count, which costs
    // a scan (18 ms at 1M), so that is checked when the store opens, not after every write.
    const docs = () => (this.db.prepare("SELECT count(*) AS n FROM memories").get() as { n: number }).n;
    if (
      info &&
      info.minDf === this.minDf &&
      countsHold(info.top, top) &&
      (!atOpen || countsHold(info.docs, docs()))
    )
      return;
    const stop = new SharedArrayBuffer(4);
    const worker = new Worker(runtimeModuleUrl(new URL("./term-stats-worker.ts", import.meta.url)), {
      workerData: { path: this.path, minDf: this.minDf, stop } satisfies TermStatsJob,
    });
    worker.unref();
    worker.on("message", (reply: TermStatsReply) => {
      this.last = reply;
    });
    const done = new Promise<void>((resolve) => {
      worker.on("error", (err) => {
        this.last = { error: err.message };
      });
      worker.on("exit", () => {
        this.running = null;
        resolve();
      });
    });
    this.running = { done, stop: new Int32Array(stop) };
  }

  /** The index changed: check again once writes have been quiet for `idleMs`. */
  wrote(): void {
    if (!this.path || this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.check();
    }, this.idleMs);
    this.timer.unref();
  }

  /** For /v1/health: whether a build runs, and what the last one kept (from the store). */
  status(): {
    building: boolean;
    tokens: number;
    memories: number | null;
    built_at: string | null;
    error?: string;
  } {
    const info = this.db.open ? readTermStatsInfo(this.db) : null;
    const failed = this.last && "error" in this.last ? { error: this.last.error } : {};
    const building = this.running !== null;
    return {
      building,
      tokens: info?.tokens ?? 0,
      memories: info?.docs ?? null,
      built_at: info?.builtAt ?? null,
      ...failed,
    };
  }

  /** Settles when no build is running. */
  async ready(): Promise<void> {
    await this.running?.done;
  }

  /** Stops a running build at its next token and waits for its thread to end (at most 10 s). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    const running = this.running;
    if (!running) return;
    Atomics.store(running.stop, 0, 1);
    await Promise.race([running.done, delay(10_000, undefined, { ref: false })]);
  }
}
