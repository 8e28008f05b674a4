import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import type Database from "better-sqlite3";
import { readAllVectors } from "./vec0-reader.ts";
import { VectorIndex } from "./vector-index.ts";
import { loadIndexSnapshot, removeIndexSnapshot, saveIndexSnapshot } from "./vector-index-snapshot.ts";

/** The `meta` key holding the token of the snapshot file that matches the database. */
const SNAPSHOT_META = "vector_snapshot";

export interface IndexOpenReport {
  /** snapshot: read from the file; rebuilt: from vec0 (no file, or a stale one). */
  from: "snapshot" | "rebuilt";
  vectors: number;
  ms: number;
}

/**
 * The store's vector index and its snapshot file (vector-index-snapshot.ts): read from the file
 * when it matches the database, on a worker thread while the store already answers (a search
 * waits for it; vector changes committed meanwhile are applied to it once it is in), else rebuilt
 * from vec0; the file is removed at the first vector change and written again when the store closes.
 */
export class PersistedVectorIndex {
  index: VectorIndex | null = null;
  /** True while the snapshot file and its token in `meta` match the index. */
  private current = false;
  private readonly db: Database.Database;
  private readonly path: string | null;
  /** The snapshot being read (`open`), until its index is in place or rebuilt from vec0. */
  private loading: Promise<void> | null = null;
  /** Index changes committed while the snapshot is read, applied to it once read. */
  private queued: ((index: VectorIndex) => void)[] = [];
  /** Bumped by `reset`: a snapshot read for the old model is dropped. */
  private generation = 0;

  constructor(db: Database.Database, path: string | null) {
    this.db = db;
    this.path = path;
  }

  /** The durable copy: sqlite-vec's table for this model's dimensions. */
  createTable(dims: number): void {
    this.db.exec(
      `CREATE VIRTUAL TABLE IF NOT EXISTS vec_memories USING vec0 (embedding float[${dims}] distance_metric=cosine)`,
    );
  }

  /**
   * Opens the index: from the snapshot file off the main thread when the token names one
   * (`ready` waits for it; `onOpen` hears how it went), else rebuilt from vec0 at once.
   */
  open(dims: number, onOpen: (report: IndexOpenReport) => void = () => {}): void {
    this.createTable(dims);
    const started = performance.now();
    const token = this.getToken();
    if (!this.path || !token || !existsSync(this.path)) {
      onOpen(this.rebuild(dims, started));
      return;
    }
    // A second check beside the token: the newest vector's rowid (a count of the embeddings
    // took 2.5 s at 1M rows on a loaded machine; the largest rowid is one index lookup).
    const newest = this.maxRid();
    const generation = this.generation;
    this.current = true;
    this.loading = loadIndexSnapshot(this.path, dims, token)
      .catch(() => null)
      .then((saved) => {
        if (generation !== this.generation) return; // reset meanwhile: `loading` is cleared
        this.loading = null;
        const queued = this.queued;
        this.queued = [];
        if (!this.db.open) return;
        if (saved && saved.maxRid() === newest) {
          for (const apply of queued) apply(saved);
          this.index = saved;
          onOpen({ from: "snapshot", vectors: saved.size, ms: Math.round(performance.now() - started) });
        } else {
          // vec0 holds every committed change, the queued ones included.
          this.current = false;
          onOpen(this.rebuild(dims, started));
        }
      })
      .catch((err: Error) => {
        // vec0 could not be read (what the constructor threw before the snapshot was read off
        // the main thread): vector search reports it, keyword search goes on.
        this.failed = err;
      });
  }

  /** Why the index could not be opened, when it could not. */
  private failed: Error | null = null;

  /** Where the index stands: none (no model yet), loading (its snapshot is being read), ready, failed. */
  get state(): "none" | "loading" | "ready" | "failed" {
    if (this.failed) return "failed";
    if (this.loading) return "loading";
    return this.index ? "ready" : "none";
  }

  /** Resolves once the index is in place (at once unless a snapshot is being read). */
  async ready(): Promise<void> {
    while (this.loading) await this.loading;
    if (this.failed) throw this.failed;
  }

  /** Applies a committed vector change to the index, or to the snapshot being read once it is in. */
  apply(change: (index: VectorIndex) => void): void {
    if (this.loading) this.queued.push(change);
    else if (this.index) change(this.index);
  }

  private rebuild(dims: number, started: number): IndexOpenReport {
    const index = new VectorIndex(dims);
    index.bulkLoad(readAllVectors(this.db, dims));
    this.index = index;
    this.current = false;
    return { from: "rebuilt", vectors: index.size, ms: Math.round(performance.now() - started) };
  }

  /** A new, empty index and its table (the model changed). */
  reset(dims: number): void {
    this.createTable(dims);
    this.invalidate();
    this.generation++;
    this.loading = null;
    this.queued = [];
    this.index = new VectorIndex(dims);
  }

  /**
   * Call inside a write's transaction before a vector changes. The file goes at once (a purged
   * memory's vector must not outlive it on disk); the token's removal commits with the write,
   * and if the write rolls back, the token names a file that no longer exists.
   */
  invalidate(): void {
    if (!this.current) return;
    this.current = false;
    if (this.path) removeIndexSnapshot(this.path);
    this.db.prepare("DELETE FROM meta WHERE key = ?").run(SNAPSHOT_META);
  }

  /** Write the snapshot if the index changed since it was read (when the store closes). */
  save(): void {
    if (this.current || this.loading || !this.index || !this.path || !this.db.open) return;
    const token = randomBytes(16).toString("hex");
    saveIndexSnapshot(this.path, this.index, token);
    this.db
      .prepare(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
      )
      .run(SNAPSHOT_META, token);
    this.current = true;
  }

  private getToken(): string | null {
    const row = this.db.prepare("SELECT value FROM meta WHERE key = ?").get(SNAPSHOT_META) as
      | { value: string }
      | undefined;
    return row?.value ?? null;
  }

  private maxRid(): number {
    return (this.db.prepare("SELECT max(rid) AS n FROM embeddings").get() as { n: number | null }).n ?? 0;
  }
}
