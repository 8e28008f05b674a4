import type { StoreStats } from "@tribalmemory/shared/store/memory-store";
import type Database from "better-sqlite3";
import type { ReadRouter } from "./sqlite-read-router.ts";
import { storeStats } from "./sqlite-stats.ts";

/**
 * What /v1/health, /v1/stats, the embedding backfill and the daemon's start count, answered on
 * the read worker so the event loop never counts, and counted again only after this connection
 * has written (every write goes through it, sync included).
 */
export class SqliteCounts {
  private readonly db: Database.Database;
  private readonly reads: ReadRouter;
  private readonly changes: Database.Statement;
  private live: { changes: number; n: Promise<number> } | null = null;
  private figures: { changes: number; stats: Promise<StoreStats> } | null = null;

  constructor(db: Database.Database, reads: ReadRouter) {
    this.db = db;
    this.changes = db.prepare("SELECT total_changes()").pluck();
    this.reads = reads;
  }

  /** The store's figures (sqlite-stats.ts): tribal_stats asked twice reads them once. */
  stats(): Promise<StoreStats> {
    const changes = this.changes.get() as number;
    if (this.figures?.changes !== changes) {
      const stats = storeStats((sql) => this.reads.rowsAside(sql, {}), this.db);
      this.figures = { changes, stats };
      stats.catch(() => {
        if (this.figures?.stats === stats) this.figures = null;
      });
    }
    return this.figures.stats;
  }

  /**
   * Live memories, counted over the `memories_live` partial index (11 MB at 1M: 0.05 s from a
   * cold page cache, where reading every row took 12 s): /v1/health polls this.
   */
  liveMemories(): Promise<number> {
    const changes = this.changes.get() as number;
    if (this.live?.changes !== changes) {
      const n = this.reads
        .rows<{ n: number }>(
          "SELECT count(*) AS n FROM memories WHERE deleted = 0 AND duplicate_of IS NULL",
          {},
        )
        .then(([row]) => row?.n ?? 0);
      this.live = { changes, n };
      n.catch(() => {
        if (this.live?.n === n) this.live = null;
      });
    }
    return this.live.n;
  }

  /**
   * Live memories without a vector of `modelId`. Stored vectors belong to live memories (hiding
   * one, a new text or a new model removes its vector), so an index of `indexed` vectors, as
   * many as the live memories, lacks none. Else the join counts them: 12 s at 1M from a cold
   * page cache, which one forgotten memory used to cost every start (the two tables' row counts
   * were compared), and counting those rows held the event loop ~1.8 s.
   */
  async missingVectors(modelId: string, indexed: number | null): Promise<number> {
    if (indexed === (await this.liveMemories())) return 0;
    const [row] = await this.reads.rows<{ n: number }>(
      `SELECT count(*) AS n FROM memories m LEFT JOIN embeddings e ON e.rid = m.rid
         WHERE m.deleted = 0 AND m.duplicate_of IS NULL AND (e.rid IS NULL OR e.model_id != @model OR e.content_hash != m.content_hash)`,
      { model: modelId },
    );
    return row?.n ?? 0;
  }
}
