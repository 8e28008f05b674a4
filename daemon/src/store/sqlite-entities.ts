import { extractEntities } from "@tribalmemory/shared/entities/extract";
import type { MemoryFilters } from "@tribalmemory/shared/memory/types";
import { extractEventDates } from "@tribalmemory/shared/recall/event-dates";
import {
  type EntityCandidate,
  entityWeights,
  rankEntityCandidates,
  SCOPE_COUNT_CAP,
  scopeIsFiltered,
} from "@tribalmemory/shared/store/entity-scoring";
import type { EntityEdge, EntityHit, EntitySummary } from "@tribalmemory/shared/store/memory-store";
import type Database from "better-sqlite3";
import { MemoryRowCount } from "./memory-row-count.ts";
import { buildFilters, type FilterSql, liveRid } from "./sqlite-filters.ts";
import type { ReadRows } from "./sqlite-read-router.ts";

/** The newest memories of a very common entity are enough for search: it adds little either way. */
const MAX_LINKS_PER_ENTITY = 2000;

/**
 * The daemon's entity index (entities, aliases, memory links, event dates): written in the
 * store's transactions, read by entity search and the entity routes. Scoring is shared
 * (`entity-scoring.ts`); this file only finds the rows.
 */
export class SqliteEntityIndex {
  private readonly sql: (text: string) => Database.Statement;
  /** Rowids among `rids` that pass `where` (visibility and filters). */
  private readonly visibleRids: (rids: number[], where: FilterSql) => Set<number>;
  private readonly stmts;
  private readonly rowCount: MemoryRowCount;
  /** A long read-only query's rows, off the event loop (the store's `ReadRouter.rowsAside`). */
  private readonly readAside: ReadRows;

  constructor(
    db: Database.Database,
    sql: (text: string) => Database.Statement,
    visibleRids: (rids: number[], where: FilterSql) => Set<number>,
    readAside: ReadRows,
  ) {
    this.sql = sql;
    this.visibleRids = visibleRids;
    this.readAside = readAside;
    this.rowCount = new MemoryRowCount(db);
    this.stmts = {
      deleteEntities: db.prepare("DELETE FROM memory_entities WHERE rid = ?"),
      deleteEventDates: db.prepare("DELETE FROM memory_event_dates WHERE rid = ?"),
      upsertEntity: db.prepare(
        "INSERT INTO entities (name, type) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET name = name RETURNING eid",
      ),
      insertAlias: db.prepare("INSERT OR IGNORE INTO entity_aliases (alias, eid) VALUES (?, ?)"),
      insertMemoryEntity: db.prepare("INSERT OR IGNORE INTO memory_entities (eid, rid) VALUES (?, ?)"),
      insertEventDate: db.prepare("INSERT INTO memory_event_dates (rid, start_ms, end_ms) VALUES (?, ?, ?)"),
    };
  }

  // ------------------------------------------------------------ writes

  /** Entities and event dates of one memory, replaced in the caller's transaction; null clears. */
  index(rid: number, content: string | null, createdMs: number): void {
    this.stmts.deleteEntities.run(rid);
    this.stmts.deleteEventDates.run(rid);
    if (content === null) return;
    for (const e of extractEntities(content)) {
      const { eid } = this.stmts.upsertEntity.get(e.name, e.type) as { eid: number };
      this.stmts.insertMemoryEntity.run(eid, rid);
      for (const a of e.aliases) this.stmts.insertAlias.run(a, eid);
    }
    for (const d of extractEventDates(content, new Date(createdMs))) {
      this.stmts.insertEventDate.run(rid, d.start, d.end);
    }
  }

  /** Names of the entities a memory links (read before a purge clears them). */
  namesOf(rid: number): string[] {
    return this.sql(
      "SELECT e.name FROM memory_entities me JOIN entities e ON e.eid = me.eid WHERE me.rid = ?",
    )
      .pluck()
      .all(rid) as string[];
  }

  /**
   * After a purge: entities no memory names any more go, with their aliases; the aliases of
   * the others are rebuilt from the memories still naming them, so no alias of the purged
   * text stays.
   */
  prune(names: string[]): void {
    for (const name of new Set(names)) {
      const entity = this.sql("SELECT eid FROM entities WHERE name = ?").get(name) as
        | { eid: number }
        | undefined;
      if (!entity) continue;
      this.sql("DELETE FROM entity_aliases WHERE eid = ?").run(entity.eid);
      const contents = this.sql(
        "SELECT m.content FROM memory_entities me JOIN memories m ON m.rid = me.rid WHERE me.eid = ?",
      )
        .pluck()
        .all(entity.eid) as string[];
      if (!contents.length) {
        this.sql("DELETE FROM entities WHERE eid = ?").run(entity.eid);
        continue;
      }
      for (const content of contents) {
        for (const e of extractEntities(content)) {
          if (e.name !== name) continue;
          for (const a of e.aliases) this.stmts.insertAlias.run(a, entity.eid);
        }
      }
    }
  }

  // ------------------------------------------------------------ reads

  /** Memory rows in the store and the memories linked to an entity: the unfiltered idf. */
  private storeCounts(): { total: number; dfOf: (eid: number) => number } {
    const df = this.sql("SELECT count(*) FROM memory_entities WHERE eid = ?").pluck();
    return {
      total: this.rowCount.get(),
      dfOf: (eid) => df.get(eid) as number,
    };
  }

  /**
   * The same counts within a filter (a conversation's tag, a project). Both are bounded so a
   * broad filter over a large store stays cheap: the scope is counted up to SCOPE_COUNT_CAP, and
   * an entity's share is read from its newest MAX_LINKS_PER_ENTITY links.
   */
  private scopedCounts(where: FilterSql): { total: number; dfOf: (eid: number) => number } {
    const total = this.sql(
      `SELECT count(*) FROM (SELECT 1 FROM memories m WHERE ${where.sql} LIMIT ${SCOPE_COUNT_CAP})`,
    )
      .pluck()
      .get(where.params) as number;
    const all = this.sql("SELECT count(*) FROM memory_entities WHERE eid = ?").pluck();
    const sampled = this.sql(
      `SELECT count(*) FROM (SELECT rid FROM memory_entities WHERE eid = @eid ORDER BY rid DESC
       LIMIT ${MAX_LINKS_PER_ENTITY}) me JOIN memories m ON m.rid = me.rid WHERE ${where.sql}`,
    ).pluck();
    return {
      total,
      dfOf: (eid) => {
        const n = all.get(eid) as number;
        const inScope = sampled.get({ ...where.params, eid }) as number;
        return n <= MAX_LINKS_PER_ENTITY ? inScope : Math.round((inScope * n) / MAX_LINKS_PER_ENTITY);
      },
    };
  }

  /**
   * Entities for case-folded names or aliases, name matches first, then in the order asked
   * (the order the relay returns too); `alias` marks a match through an alias only.
   */
  private idsFor(names: string[]): { eid: number; name: string; query: string; alias: boolean }[] {
    if (!names.length) return [];
    return this.sql(
      `SELECT eid, name, query, alias FROM (
         SELECT e.eid, e.name, q.value AS query, 0 AS alias, q.key AS i FROM json_each(@names) q
           JOIN entities e ON e.name = q.value
         UNION ALL
         SELECT e.eid, e.name, q.value AS query, 1 AS alias, q.key AS i FROM json_each(@names) q
           JOIN entity_aliases a ON a.alias = q.value JOIN entities e ON e.eid = a.eid
       ) ORDER BY alias, i, name`,
    )
      .all({ names: JSON.stringify(names) })
      .map((r) => {
        const row = r as { eid: number; name: string; query: string; alias: number };
        return { ...row, alias: row.alias === 1 };
      });
  }

  async search(
    names: string[],
    k: number,
    filters: MemoryFilters,
    options: { dropCommon?: boolean } = {},
  ): Promise<EntityHit[]> {
    if (!names.length || k <= 0) return [];
    const ids = this.idsFor(names);
    if (!ids.length) return [];
    const where = buildFilters(filters);
    const { total, dfOf } = scopeIsFiltered(filters) ? this.scopedCounts(where) : this.storeCounts();
    const weights = entityWeights(
      ids.map((e) => ({ entity: e.eid, query: e.query, alias: e.alias, df: dfOf(e.eid) })),
      total,
      options.dropCommon,
    );
    if (weights.maxTotal <= 0) return [];
    const candidates = new Map<number, EntityCandidate<number>>();
    for (const eid of weights.weightOf.keys()) {
      const rows = this.sql(
        `SELECT me.rid, m.id, m.created_ms FROM memory_entities me JOIN memories m ON m.rid = me.rid
         WHERE me.eid = ? ORDER BY me.rid DESC LIMIT ${MAX_LINKS_PER_ENTITY}`,
      )
        .raw()
        .all(eid) as [number, string, number][];
      for (const [rid, id, createdMs] of rows) {
        const c = candidates.get(rid) ?? { id, createdMs, entities: [] };
        c.entities.push(eid);
        candidates.set(rid, c);
      }
    }
    const ridOf = new Map([...candidates].map(([rid, c]) => [c.id, rid]));
    const ranked = rankEntityCandidates([...candidates.values()], weights);
    // Visibility is checked on the best few first: ranking needs no filter, and most
    // queries are answered by the first chunk.
    const out: EntityHit[] = [];
    for (let i = 0; i < ranked.length && out.length < k; i += 500) {
      const chunk = ranked.slice(i, i + 500);
      const visible = this.visibleRids(
        chunk.map((c) => ridOf.get(c.id) as number),
        where,
      );
      for (const c of chunk) {
        if (out.length >= k) break;
        if (visible.has(ridOf.get(c.id) as number))
          out.push({ id: c.id, score: c.score, matched: c.matched });
      }
    }
    return out;
  }

  /**
   * Entities by how many live memories name them, from the count each keeps (schema.ts): the
   * links counted at each read took 1.8–2.0 s of the read worker at 1M with 3M links.
   */
  async list(options: { limit: number; prefix?: string; type?: string }): Promise<EntitySummary[]> {
    return this.readAside<EntitySummary>(
      `SELECT e.name, e.type, e.memories FROM entities e
       WHERE e.memories > 0 AND (@prefix IS NULL OR e.name >= @prefix AND e.name < @prefix || char(1114111))
         AND (@type IS NULL OR e.type = @type)
       ORDER BY e.memories DESC, e.name LIMIT @limit`,
      { prefix: options.prefix ?? null, type: options.type ?? null, limit: options.limit },
    );
  }

  async resolve(names: string[]): Promise<{ name: string; type: string }[]> {
    const seen = new Map<number, { name: string; type: string }>();
    for (const e of this.idsFor(names)) {
      if (seen.has(e.eid)) continue;
      seen.set(
        e.eid,
        this.sql("SELECT name, type FROM entities WHERE eid = ?").get(e.eid) as {
          name: string;
          type: string;
        },
      );
    }
    return [...seen.values()];
  }

  async neighbours(names: string[], perEntity: number): Promise<EntityEdge[]> {
    if (!names.length || perEntity <= 0) return [];
    const edges: EntityEdge[] = [];
    const sources = new Map(this.idsFor(names).map((e) => [e.eid, e.name]));
    for (const [eid, source] of sources) {
      // Each co-named memory checked in the live index, not its row: 0.35 → 0.06 s for an entity
      // of 27k memories at 1M (a graph walks many), on the read worker.
      const rows = await this.readAside<{ target: string; weight: number }>(
        `SELECT o.name AS target, count(*) AS weight FROM memory_entities a
           JOIN memory_entities b ON b.rid = a.rid AND b.eid != a.eid
           JOIN entities o ON o.eid = b.eid
         WHERE a.eid = @eid AND ${liveRid("a")} GROUP BY b.eid ORDER BY weight DESC, o.name LIMIT @limit`,
        { eid, limit: perEntity },
      );
      for (const r of rows) edges.push({ source, target: r.target, type: "co_occurs", weight: r.weight });
    }
    return edges;
  }
}
