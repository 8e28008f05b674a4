import { ENTITY_INDEX_VERSION } from "@tribalmemory/shared/store/memory-rows";
import type Database from "better-sqlite3";
import { BackgroundSteps } from "./background-steps.ts";
import type { SqliteEntityIndex } from "./sqlite-entities.ts";
import type { MetaAccess } from "./sqlite-thread-fts.ts";

export const ENTITY_VERSION_META = "entity_index_version";
/** The last rowid the pass has re-extracted; 0 when no pass is under way. */
export const ENTITY_CURSOR_META = "entity_reindex_cursor";

/** Rows read a step, and how long a step may hold the event loop before it stops early. */
const STEP_ROWS = 500;
const STEP_MS = 8;
const PAUSE_MS = 10;

/**
 * Brings the entity index (entities, aliases, memory links, event dates) of a store that an
 * older extractor wrote, or that predates the index, up to this release's, in the background.
 * Done in one transaction at open, as it was, a store of 1M memories waited 29 s for its first
 * answer after an upgrade. Now each step re-extracts the memories after a cursor kept in meta for
 * at most `STEP_MS`, on a timer, the event loop free between steps; a restart resumes where it
 * stopped. Meanwhile recall reads the index as it is (a memory not reached yet keeps what the
 * older extractor found), and a write indexes its memory with this extractor itself. At the end
 * the entities that no memory names any more go, with their aliases, and the version is set.
 */
export class EntityReindexer {
  private readonly db: Database.Database;
  private readonly entities: SqliteEntityIndex;
  private readonly meta: MetaAccess;
  private readonly steps: BackgroundSteps;

  constructor(db: Database.Database, entities: SqliteEntityIndex, meta: MetaAccess) {
    this.db = db;
    this.entities = entities;
    this.meta = meta;
    this.steps = new BackgroundSteps(db, () => this.step());
  }

  /** Whether the index is this extractor's (`meta.entity_index_version`). */
  get current(): boolean {
    const version = this.meta.get(ENTITY_VERSION_META);
    return version !== null && Number(version) === ENTITY_INDEX_VERSION;
  }

  /** For /v1/health: `reindexing` while the pass runs, with the last rowid it has reached. */
  status(): { state: "current" | "reindexing"; cursor?: number } {
    if (this.current) return { state: "current" };
    return { state: "reindexing", cursor: Number(this.meta.get(ENTITY_CURSOR_META) ?? 0) };
  }

  /** Starts the pass when the index is not current; a store without memories is current at once. */
  start(): void {
    if (this.current) return;
    if (this.db.prepare("SELECT 1 FROM memories LIMIT 1").get()) this.steps.start(PAUSE_MS, 0);
    else this.markCurrent();
  }

  /** Re-extracts the next memories; false once the index is current. */
  step(): boolean {
    if (this.current) return false;
    const started = performance.now();
    const from = Number(this.meta.get(ENTITY_CURSOR_META) ?? 0);
    const rows = this.db
      .prepare(
        "SELECT rid, content, created_ms FROM memories WHERE rid > ? AND deleted = 0 AND duplicate_of IS NULL ORDER BY rid LIMIT ?",
      )
      .raw()
      .all(from, STEP_ROWS) as [number, string, number][];
    this.db
      .transaction(() => {
        let done = 0;
        while (done < rows.length && (done === 0 || performance.now() - started < STEP_MS)) {
          const [rid, content, createdMs] = rows[done++];
          this.entities.index(rid, content, createdMs);
        }
        if (done === rows.length && rows.length < STEP_ROWS) {
          this.db.exec(`DELETE FROM entities WHERE eid NOT IN (SELECT eid FROM memory_entities);
          DELETE FROM entity_aliases WHERE eid NOT IN (SELECT eid FROM entities);`);
          this.markCurrent();
        } else {
          this.meta.set(ENTITY_CURSOR_META, String(rows[done - 1][0]));
        }
      })
      .immediate();
    return !this.current;
  }

  /** Runs the pass to its end now. */
  finish(): void {
    this.stop();
    while (this.step());
  }

  stop(): void {
    this.steps.stop();
  }

  private markCurrent(): void {
    this.meta.set(ENTITY_CURSOR_META, "0");
    this.meta.set(ENTITY_VERSION_META, String(ENTITY_INDEX_VERSION));
  }
}
