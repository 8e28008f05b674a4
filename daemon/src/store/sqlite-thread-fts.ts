import { THREAD_GAP_MS } from "@tribalmemory/shared/recall/thread-context";
import type Database from "better-sqlite3";
import { BackgroundSteps } from "./background-steps.ts";
import { FTS_TABLE_SQL, LINKS_TABLE_SQL } from "./schema.ts";
import type { FilterSql } from "./sqlite-filters.ts";

/**
 * Keyword search that sees a memory's conversation. Memories an agent writes one after another
 * (the same `source_instance`, each within `THREAD_GAP_MS` of the one before) form a thread: the
 * turns of a conversation, the steps of a session. A question about what A said often matches
 * B's reply better than A's words, so each memory's FTS row also indexes its thread neighbours'
 * text in columns of their own (`prev`, `next`), weighted below its own content in bm25
 * (`KEYWORD_COLUMN_WEIGHTS`). Measured on LoCoMo (keyword list alone, recall@5): 0.553 → 0.613.
 *
 * The rows of a memory's neighbours change with it: writes mark the rows they touch (`touch`,
 * before and after the change) and `flush` rewrites each marked row once, inside the write's
 * transaction. The neighbours' rowids are written beside each row (`memory_links`), so recall
 * reads a hit's thread instead of searching it: at LoCoMo size, two range lookups a hit took
 * 0.36 ms for 100 hits, a sixth of a recall. A data folder indexed before links were kept gets
 * them in the background, a chunk at a time (`fillLinks`); until then recall searches the
 * thread as before.
 */
export { THREAD_GAP_MS };

/** bm25() weights of memories_fts's columns: content, tags, prev, next. */
export const KEYWORD_COLUMN_WEIGHTS = "1.0, 0.5, 0.5, 0.2";

/** The FTS table's layout (schema.ts); a store whose index was built for another one rebuilds it on open. */
export const FTS_INDEX_VERSION = "2-thread";

/** Meta keys: links written for every memory, and how far a background fill has come. */
const LINKS_DONE = "thread_links";
const LINKS_CURSOR = "thread_links_cursor";
/**
 * Memories a fill step links: two indexed lookups each, ~8 ms of the event loop a step on this
 * VM (500 took ~40 ms). 100k memories fill in ~20 s, 1M in a few minutes, once.
 */
const LINK_FILL_CHUNK = 100;

/** The store's meta table. */
export interface MetaAccess {
  get(key: string): string | null;
  set(key: string, value: string): void;
}

/** A neighbour of a memory in its thread: visible, same instance, within the gap. */
const visibleAs = (alias: string) => `${alias}.deleted = 0 AND ${alias}.duplicate_of IS NULL`;
const VISIBLE = "deleted = 0 AND duplicate_of IS NULL";
/** A neighbour also must not be superseded: a corrected fact is no one's context. */
const linkableAs = (alias: string) =>
  `${visibleAs(alias)} AND NOT EXISTS (SELECT 1 FROM memories s WHERE s.supersedes = ${alias}.id AND s.deleted = 0)`;

/** A memory's neighbours' rowids searched in its thread (alias `x`): before its links are written. */
const SEARCHED_PREV = `(SELECT p.rid FROM memories p WHERE p.source_instance = x.source_instance AND ${linkableAs("p")}
  AND p.created_ms BETWEEN x.created_ms - ${THREAD_GAP_MS} AND x.created_ms AND (p.created_ms < x.created_ms OR p.id < x.id)
  ORDER BY p.created_ms DESC, p.id DESC LIMIT 1)`;
const SEARCHED_NEXT = `(SELECT n.rid FROM memories n WHERE n.source_instance = x.source_instance AND ${linkableAs("n")}
  AND n.created_ms BETWEEN x.created_ms AND x.created_ms + ${THREAD_GAP_MS} AND (n.created_ms > x.created_ms OR n.id > x.id)
  ORDER BY n.created_ms, n.id LIMIT 1)`;

interface ThreadRow {
  rid: number;
  content: string;
  tags: string;
  source_instance: string;
  created_ms: number;
  id: string;
  visible: number;
}

/** A row's neighbours in its thread, as `neighbours` finds them. */
interface Neighbours {
  prev: ThreadRow | undefined;
  next: ThreadRow | undefined;
}

export class ThreadFts {
  private readonly dirty = new Set<number>();
  /** Rows written in this transaction (`mark`): their neighbours are found at `flush`. */
  private readonly written = new Set<number>();
  private readonly stmts;

  private readonly db: Database.Database;
  /** Told after each flush and rebuild: the index has new segments. */
  private readonly onWritten: () => void;
  private readonly meta: MetaAccess;
  /** Every visible memory's links are written; until then recall searches threads itself. */
  private linked: boolean;
  /** Links an older folder's memories in the background (`fillLinks`, a step at a time). */
  private readonly linkFill: BackgroundSteps;

  constructor(db: Database.Database, meta: MetaAccess, onWritten: () => void = () => {}) {
    this.db = db;
    this.meta = meta;
    this.linked = meta.get(LINKS_DONE) === "1";
    this.onWritten = onWritten;
    this.linkFill = new BackgroundSteps(db, () => this.fillLinks());
    const cols = `rid, content, tags, source_instance, created_ms, id, (${VISIBLE}) AS visible`;
    this.stmts = {
      row: db.prepare(`SELECT ${cols} FROM memories WHERE rid = ?`),
      prev: db.prepare(
        `SELECT ${cols} FROM memories t WHERE source_instance = @s AND ${linkableAs("t")}
           AND (created_ms, id) < (@c, @i) AND created_ms >= @c - ${THREAD_GAP_MS}
         ORDER BY created_ms DESC, id DESC LIMIT 1`,
      ),
      next: db.prepare(
        `SELECT ${cols} FROM memories t WHERE source_instance = @s AND ${linkableAs("t")}
           AND (created_ms, id) > (@c, @i) AND created_ms <= @c + ${THREAD_GAP_MS}
         ORDER BY created_ms, id LIMIT 1`,
      ),
      ridOf: db.prepare("SELECT rid FROM memories WHERE id = ?"),
    };
  }

  // Prepared on first use: an index of the old layout is rebuilt before any row is written.
  private writes: Record<"delete" | "insert" | "unlink" | "link", Database.Statement> | null = null;

  private get fts(): Record<"delete" | "insert" | "unlink" | "link", Database.Statement> {
    this.writes ??= {
      delete: this.db.prepare("DELETE FROM memories_fts WHERE rowid = ?"),
      insert: this.db.prepare(
        "INSERT INTO memories_fts (rowid, content, tags, prev, next) VALUES (?, ?, ?, ?, ?)",
      ),
      unlink: this.db.prepare("DELETE FROM memory_links WHERE rid = ?"),
      link: this.db.prepare("INSERT OR REPLACE INTO memory_links (rid, prev, next) VALUES (?, ?, ?)"),
    };
    return this.writes;
  }

  /**
   * Marks a memory just written: its row and its neighbours' rows are rewritten at `flush`, its
   * neighbours found there once, in the transaction's final order (a batch of a thread's turns
   * then costs two lookups a memory, not four: bootstrap and import write thousands at once).
   */
  mark(rid: number): void {
    this.written.add(rid);
  }

  /** Marks a memory's row and its current neighbours' rows for rewriting at `flush` (before a change). */
  touch(rid: number): void {
    this.dirty.add(rid);
    const row = this.stmts.row.get(rid) as ThreadRow | undefined;
    if (!row) return;
    const { prev, next } = this.neighbours(row);
    if (prev) this.dirty.add(prev.rid);
    if (next) this.dirty.add(next.rid);
  }

  /** `touch` by memory id (a memory another write supersedes). */
  touchId(id: string): void {
    const rid = (this.stmts.ridOf.get(id) as { rid: number } | undefined)?.rid;
    if (rid !== undefined) this.touch(rid);
  }

  /** Rewrites every marked row: gone or hidden rows leave the index, visible ones get their context. */
  flush(): void {
    // Written rows, read once: their neighbours join the rows to rewrite.
    const found = new Map<number, { row: ThreadRow; around: Neighbours }>();
    for (const rid of this.written) {
      this.dirty.add(rid);
      const row = this.stmts.row.get(rid) as ThreadRow | undefined;
      if (!row) continue;
      const around = this.neighbours(row);
      found.set(rid, { row, around });
      if (around.prev) this.dirty.add(around.prev.rid);
      if (around.next) this.dirty.add(around.next.rid);
    }
    if (this.dirty.size) this.onWritten();
    for (const rid of this.dirty) {
      this.fts.delete.run(rid);
      this.fts.unlink.run(rid);
      const known = found.get(rid);
      const row = known?.row ?? (this.stmts.row.get(rid) as ThreadRow | undefined);
      if (row?.visible) this.insertRow(row, known?.around);
    }
    this.dirty.clear();
    this.written.clear();
  }

  /** Drops what `touch` and `mark` marked without writing (the transaction rolled back). */
  discard(): void {
    this.dirty.clear();
    this.written.clear();
  }

  /**
   * Thread neighbours' ids of the given memories (only those that have one), in one statement
   * whatever the number of ids; a neighbour outside `where` (the caller's filters) is left out.
   */
  neighbourIds(ids: string[], where: FilterSql): Map<string, { prev: string | null; next: string | null }> {
    const out = new Map<string, { prev: string | null; next: string | null }>();
    if (!ids.length) return out;
    const rows = this.neighboursStatement(where.sql).all({ ...where.params, ids: JSON.stringify(ids) }) as [
      string,
      string | null,
      string | null,
    ][];
    for (const [id, prev, next] of rows) if (prev || next) out.set(id, { prev, next });
    return out;
  }

  // Per filter shape (recall runs the same few): preparing costs more than running it.
  private readonly byFilter = new Map<string, Database.Statement>();

  /** Per visible memory of `@ids`, the ids of its linked neighbours that pass `whereSql` (alias `m`). */
  private neighboursStatement(whereSql: string): Database.Statement {
    let st = this.byFilter.get(whereSql);
    if (!st) {
      const kept = (rid: string) => `(SELECT m.id FROM memories m WHERE m.rid = ${rid} AND ${whereSql})`;
      st = this.db
        .prepare(
          this.linked
            ? `SELECT x.id, ${kept("l.prev")}, ${kept("l.next")} FROM memories x JOIN memory_links l ON l.rid = x.rid
               WHERE x.id IN (SELECT value FROM json_each(@ids)) AND ${visibleAs("x")}`
            : `SELECT x.id, ${kept(SEARCHED_PREV)}, ${kept(SEARCHED_NEXT)} FROM memories x
               WHERE x.id IN (SELECT value FROM json_each(@ids)) AND ${visibleAs("x")}`,
        )
        .raw();
      if (this.byFilter.size > 64) this.byFilter.clear();
      this.byFilter.set(whereSql, st);
    }
    return st;
  }

  /**
   * Builds the index again from the memories (an index of another layout, or none): one pass
   * in thread order, so each row's neighbours are the rows beside it. Returns the layout built.
   */
  rebuild(progress?: (done: number, total: number) => void): string {
    this.writes = null;
    this.db.exec("DROP TABLE IF EXISTS memories_fts; DROP TABLE IF EXISTS memory_links");
    this.stopLinkFill();
    this.db.exec(FTS_TABLE_SQL);
    this.db.exec(LINKS_TABLE_SQL);
    // Rowids first (better-sqlite3 cannot write while a read iterates), then each row with its
    // neighbours: two indexed lookups a row and its terms (16–25 s at 100k memories on this VM,
    // once per layout change).
    const rids = this.db.prepare(`SELECT rid FROM memories WHERE ${VISIBLE}`).pluck().all() as number[];
    for (const [i, rid] of rids.entries()) {
      this.insertRow(this.stmts.row.get(rid) as ThreadRow);
      if ((i + 1) % 10_000 === 0 || i + 1 === rids.length) progress?.(i + 1, rids.length);
    }
    // One segment, as a bulk build leaves it (a row at a time left 25 at 100k memories).
    this.db.exec("INSERT INTO memories_fts (memories_fts) VALUES ('optimize')");
    this.markLinked();
    return FTS_INDEX_VERSION;
  }

  /**
   * Links the next chunk of memories of a folder indexed before links were kept; false once
   * every memory is linked. Writes meanwhile link the rows they touch themselves.
   */
  fillLinks(chunk = LINK_FILL_CHUNK): boolean {
    if (this.linked) return false;
    const from = Number(this.meta.get(LINKS_CURSOR) ?? 0);
    const rows = this.db
      .prepare(`SELECT rid, content, tags, source_instance, created_ms, id, 1 AS visible FROM memories
        WHERE rid > ? AND ${VISIBLE} ORDER BY rid LIMIT ?`)
      .all(from, chunk) as ThreadRow[];
    this.db
      .transaction(() => {
        for (const row of rows) {
          const { prev, next } = this.neighbours(row);
          if (prev || next) this.fts.link.run(row.rid, prev?.rid ?? null, next?.rid ?? null);
          else this.fts.unlink.run(row.rid);
        }
        if (rows.length < chunk) this.markLinked();
        else this.meta.set(LINKS_CURSOR, String(rows[rows.length - 1].rid));
      })
      .immediate();
    return !this.linked;
  }

  /** Runs `fillLinks` a chunk at a time on timers, the event loop free between chunks. */
  startLinkFill(pauseMs = 10): void {
    if (!this.linked) this.linkFill.start(pauseMs);
  }

  stopLinkFill(): void {
    this.linkFill.stop();
  }

  private markLinked(): void {
    this.meta.set(LINKS_DONE, "1");
    this.meta.set(LINKS_CURSOR, "0");
    this.linked = true;
    this.byFilter.clear(); // statements that searched threads
  }

  private neighbours(row: ThreadRow): Neighbours {
    const params = { s: row.source_instance, c: row.created_ms, i: row.id };
    return {
      prev: this.stmts.prev.get(params) as ThreadRow | undefined,
      next: this.stmts.next.get(params) as ThreadRow | undefined,
    };
  }

  private insertRow(row: ThreadRow, around: Neighbours = this.neighbours(row)): void {
    const { prev, next } = around;
    this.fts.insert.run(row.rid, row.content, tagText(row.tags), prev?.content ?? "", next?.content ?? "");
    if (prev || next) this.fts.link.run(row.rid, prev?.rid ?? null, next?.rid ?? null);
  }
}

/** Tags are stored as a JSON list; the index holds them as words. */
function tagText(tags: string): string {
  try {
    const list = JSON.parse(tags) as unknown;
    return Array.isArray(list) ? list.join(" ") : "";
  } catch {
    return "";
  }
}
