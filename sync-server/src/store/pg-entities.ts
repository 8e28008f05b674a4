import { extractEntities } from "@tribalmemory/shared/entities/extract";
import type { MemoryFilters } from "@tribalmemory/shared/memory/types";
import { extractEventDates } from "@tribalmemory/shared/recall/event-dates";
import {
  entityWeights,
  rankEntityCandidates,
  SCOPE_COUNT_CAP,
  scopeIsFiltered,
} from "@tribalmemory/shared/store/entity-scoring";
import { ENTITY_INDEX_VERSION } from "@tribalmemory/shared/store/memory-rows";
import type { EntityEdge, EntityHit, EntitySummary } from "@tribalmemory/shared/store/memory-store";
import type { RelayDatabase, Sql } from "./database.ts";
import { filterSql, Params } from "./pg-filters.ts";

/** What indexing one memory's entities and event dates needs; `content` null clears them. */
export interface EntitySource {
  id: string;
  content: string | null;
  createdMs: number;
}

/**
 * One workspace's entity index (entities, aliases, memory links, event dates): written in the
 * ingest and purge transactions, read by entity search and the entity routes. Scoring is
 * shared with the daemon (`entity-scoring.ts`); this file only finds the rows.
 */
export class PgEntityIndex {
  private readonly db: RelayDatabase;
  private readonly workspaceId: string;
  /** Set once this workspace's entity index is known to be built by ENTITY_INDEX_VERSION. */
  private ready = false;

  constructor(db: RelayDatabase, workspaceId: string) {
    this.db = db;
    this.workspaceId = workspaceId;
  }

  private tx<T>(fn: (sql: Sql) => Promise<T>): Promise<T> {
    return this.db.tx(this.workspaceId, fn);
  }

  /** Filters that read the entity index need it built first. */
  async ensureForFilters(f: MemoryFilters): Promise<void> {
    if (f.entityNames?.length || f.matchEventDates) await this.ensure();
  }

  // ------------------------------------------------------------ entity index (writes)

  /** Entities and event dates of memories, replaced in the caller's transaction. */
  async indexIn(sql: Sql, sources: EntitySource[]): Promise<void> {
    if (!sources.length) return;
    const ws = this.workspaceId;
    const ids = sources.map((s) => s.id);
    await sql.query("DELETE FROM memory_entities WHERE workspace_id = $1 AND memory_id = ANY($2::text[])", [
      ws,
      ids,
    ]);
    await sql.query(
      "DELETE FROM memory_event_dates WHERE workspace_id = $1 AND memory_id = ANY($2::text[])",
      [ws, ids],
    );
    const entities = new Map<string, string>();
    const aliases = new Map<string, [string, string]>();
    const links = new Map<string, [string, string]>();
    const dates: [string, number, number][] = [];
    for (const src of sources) {
      if (src.content === null) continue;
      for (const e of extractEntities(src.content)) {
        if (!entities.has(e.name)) entities.set(e.name, e.type);
        links.set(`${src.id}\u0000${e.name}`, [src.id, e.name]);
        for (const a of e.aliases) aliases.set(`${a}\u0000${e.name}`, [a, e.name]);
      }
      for (const d of extractEventDates(src.content, new Date(src.createdMs))) {
        dates.push([src.id, Math.floor(d.start), Math.ceil(d.end)]);
      }
    }
    if (entities.size) {
      await sql.query(
        `INSERT INTO entities (workspace_id, name, kind) SELECT $1, n, k FROM unnest($2::text[], $3::text[]) AS t(n, k)
         ON CONFLICT DO NOTHING`,
        [ws, [...entities.keys()], [...entities.values()]],
      );
      await sql.query(
        `INSERT INTO memory_entities (workspace_id, memory_id, entity) SELECT $1, m, e FROM unnest($2::text[], $3::text[]) AS t(m, e)
         ON CONFLICT DO NOTHING`,
        [ws, [...links.values()].map((l) => l[0]), [...links.values()].map((l) => l[1])],
      );
    }
    if (aliases.size) {
      await sql.query(
        `INSERT INTO entity_aliases (workspace_id, alias, entity) SELECT $1, a, e FROM unnest($2::text[], $3::text[]) AS t(a, e)
         ON CONFLICT DO NOTHING`,
        [ws, [...aliases.values()].map((a) => a[0]), [...aliases.values()].map((a) => a[1])],
      );
    }
    if (dates.length) {
      await sql.query(
        `INSERT INTO memory_event_dates (workspace_id, memory_id, start_ms, end_ms)
         SELECT $1, m, s, e FROM unnest($2::text[], $3::bigint[], $4::bigint[]) AS t(m, s, e)`,
        [ws, dates.map((d) => d[0]), dates.map((d) => d[1]), dates.map((d) => d[2])],
      );
    }
  }

  /** Rebuilds the workspace's entity index from its live memories (the workspace row is locked). */
  async reindexIn(sql: Sql): Promise<void> {
    const ws = this.workspaceId;
    for (const t of ["memory_entities", "entity_aliases", "entities", "memory_event_dates"]) {
      await sql.query(`DELETE FROM ${t} WHERE workspace_id = $1`, [ws]);
    }
    let after = "";
    for (;;) {
      const rows = await sql.query<{ id: string; content: string; cms: number }>(
        `SELECT id, content, created_ms::float8 AS cms FROM memories
         WHERE workspace_id = $1 AND NOT deleted AND duplicate_of IS NULL AND id > $2 ORDER BY id LIMIT 1000`,
        [ws, after],
      );
      if (!rows.length) break;
      await this.indexIn(
        sql,
        rows.map((r) => ({ id: r.id, content: r.content, createdMs: r.cms })),
      );
      after = rows[rows.length - 1].id;
    }
    await sql.query("UPDATE workspaces SET entity_index_version = $2 WHERE id = $1", [
      ws,
      ENTITY_INDEX_VERSION,
    ]);
  }

  /**
   * After a purge: entities no memory names any more go, with their aliases; the aliases of the
   * others are rebuilt from the memories still naming them, so nothing of the purged text stays.
   */
  async pruneIn(sql: Sql, names: string[]): Promise<void> {
    const ws = this.workspaceId;
    const affected = [...new Set(names)];
    if (!affected.length) return;
    await sql.query("DELETE FROM entity_aliases WHERE workspace_id = $1 AND entity = ANY($2::text[])", [
      ws,
      affected,
    ]);
    await sql.query(
      `DELETE FROM entities e WHERE e.workspace_id = $1 AND e.name = ANY($2::text[])
       AND NOT EXISTS (SELECT 1 FROM memory_entities me WHERE me.workspace_id = e.workspace_id AND me.entity = e.name)`,
      [ws, affected],
    );
    const rows = await sql.query<{ content: string }>(
      `SELECT m.content FROM memories m WHERE m.workspace_id = $1 AND m.id IN (
         SELECT memory_id FROM memory_entities WHERE workspace_id = $1 AND entity = ANY($2::text[]))`,
      [ws, affected],
    );
    const keep = new Set(affected);
    const aliases = new Map<string, [string, string]>();
    for (const r of rows) {
      for (const e of extractEntities(r.content)) {
        if (!keep.has(e.name)) continue;
        for (const a of e.aliases) aliases.set(`${a}\u0000${e.name}`, [a, e.name]);
      }
    }
    if (aliases.size) {
      await sql.query(
        `INSERT INTO entity_aliases (workspace_id, alias, entity) SELECT $1, a, e FROM unnest($2::text[], $3::text[]) AS t(a, e)
         ON CONFLICT DO NOTHING`,
        [ws, [...aliases.values()].map((a) => a[0]), [...aliases.values()].map((a) => a[1])],
      );
    }
  }

  /** Builds the workspace's entity index if an older extractor (or none) wrote it. */
  async ensure(): Promise<void> {
    if (this.ready) return;
    await this.tx(async (sql) => {
      const [r] = await sql.query<{ v: number }>(
        "SELECT entity_index_version AS v FROM workspaces WHERE id = $1",
        [this.workspaceId],
      );
      if (!r || r.v === ENTITY_INDEX_VERSION) return;
      const [locked] = await sql.query<{ v: number }>(
        "SELECT entity_index_version AS v FROM workspaces WHERE id = $1 FOR UPDATE",
        [this.workspaceId],
      );
      if (locked.v !== ENTITY_INDEX_VERSION) await this.reindexIn(sql);
    });
    this.ready = true;
  }

  // ------------------------------------------------------------ entity index (reads)

  /** Entities for case-folded names or aliases, name matches first; `alias` = matched via an alias. */
  private async idsIn(
    sql: Sql,
    names: string[],
  ): Promise<{ name: string; type: string; query: string; alias: boolean }[]> {
    if (!names.length) return [];
    return sql.query(
      `SELECT name, type, query, alias FROM (
         SELECT e.name, e.kind AS type, q.q AS query, false AS alias, q.i FROM unnest($2::text[]) WITH ORDINALITY AS q(q, i)
           JOIN entities e ON e.workspace_id = $1 AND e.name = q.q
         UNION ALL
         SELECT e.name, e.kind AS type, q.q AS query, true AS alias, q.i FROM unnest($2::text[]) WITH ORDINALITY AS q(q, i)
           JOIN entity_aliases a ON a.workspace_id = $1 AND a.alias = q.q
           JOIN entities e ON e.workspace_id = a.workspace_id AND e.name = a.entity
       ) x ORDER BY alias, i, name COLLATE "C"`,
      [this.workspaceId, names],
    );
  }

  async search(
    names: string[],
    k: number,
    filters: MemoryFilters,
    options: { dropCommon?: boolean } = {},
  ): Promise<EntityHit[]> {
    if (!names.length || k <= 0) return [];
    await this.ensure();
    return this.tx(async (sql) => {
      const ids = await this.idsIn(sql, names);
      if (!ids.length) return [];
      const ws = this.workspaceId;
      const p = new Params();
      const where = filterSql(ws, filters, p);
      const rows = await sql.query<{ id: string; ents: string[]; cms: number }>(
        `SELECT m.id, array_agg(me.entity) AS ents, m.created_ms::float8 AS cms
         FROM memory_entities me JOIN memories m ON m.workspace_id = me.workspace_id AND m.id = me.memory_id
         WHERE ${where} AND me.workspace_id = m.workspace_id AND me.entity = ANY(${p.add([...new Set(ids.map((e) => e.name))])}::text[])
         GROUP BY m.id, m.created_ms`,
        p.values,
      );
      const { total, dfOf } = scopeIsFiltered(filters)
        ? await this.scopedCounts(sql, filters, rows)
        : await this.workspaceCounts(sql, ids);
      const weights = entityWeights(
        ids.map((e) => ({ entity: e.name, query: e.query, alias: e.alias, df: dfOf.get(e.name) ?? 0 })),
        total,
        options.dropCommon,
      );
      if (weights.maxTotal <= 0) return [];
      return rankEntityCandidates(
        rows.map((r) => ({ id: r.id, createdMs: r.cms, entities: r.ents })),
        weights,
      )
        .slice(0, k)
        .map((r) => ({ id: r.id, score: r.score, matched: r.matched }));
    });
  }

  /** Memory rows in the workspace and the memories linked to each entity: the unfiltered idf. */
  private async workspaceCounts(
    sql: Sql,
    ids: { name: string }[],
  ): Promise<{ total: number; dfOf: Map<string, number> }> {
    const ws = this.workspaceId;
    const [{ n }] = await sql.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM memories WHERE workspace_id = $1",
      [ws],
    );
    const rows = await sql.query<{ entity: string; n: number }>(
      `SELECT entity, count(*)::int AS n FROM memory_entities WHERE workspace_id = $1 AND entity = ANY($2::text[])
       GROUP BY entity`,
      [ws, [...new Set(ids.map((e) => e.name))]],
    );
    return { total: n, dfOf: new Map(rows.map((r) => [r.entity, r.n])) };
  }

  /** The same counts within the query's filter, as the daemon reads them (sqlite-entities.ts). */
  private async scopedCounts(
    sql: Sql,
    filters: MemoryFilters,
    rows: { ents: string[] }[],
  ): Promise<{ total: number; dfOf: Map<string, number> }> {
    const p = new Params();
    const where = filterSql(this.workspaceId, filters, p);
    const [{ n }] = await sql.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM (SELECT 1 FROM memories m WHERE ${where} LIMIT ${SCOPE_COUNT_CAP}) s`,
      p.values,
    );
    const dfOf = new Map<string, number>();
    for (const r of rows) for (const e of new Set(r.ents)) dfOf.set(e, (dfOf.get(e) ?? 0) + 1);
    return { total: n, dfOf };
  }

  async list(options: { limit: number; prefix?: string; type?: string }): Promise<EntitySummary[]> {
    await this.ensure();
    return this.tx((sql) =>
      sql.query<EntitySummary>(
        `SELECT e.name, e.kind AS type, count(*)::int AS memories FROM entities e
           JOIN memory_entities me ON me.workspace_id = e.workspace_id AND me.entity = e.name
           JOIN memories m ON m.workspace_id = me.workspace_id AND m.id = me.memory_id AND NOT m.deleted AND m.duplicate_of IS NULL
         WHERE e.workspace_id = $1 AND ($2::text IS NULL OR starts_with(e.name, $2::text)) AND ($3::text IS NULL OR e.kind = $3::text)
         GROUP BY e.name, e.kind ORDER BY memories DESC, e.name COLLATE "C" LIMIT $4`,
        [this.workspaceId, options.prefix ?? null, options.type ?? null, options.limit],
      ),
    );
  }

  async resolve(names: string[]): Promise<{ name: string; type: string }[]> {
    if (!names.length) return [];
    await this.ensure();
    const ids = await this.tx((sql) => this.idsIn(sql, names));
    const seen = new Map<string, { name: string; type: string }>();
    for (const e of ids) if (!seen.has(e.name)) seen.set(e.name, { name: e.name, type: e.type });
    return [...seen.values()];
  }

  async neighbours(names: string[], perEntity: number): Promise<EntityEdge[]> {
    if (!names.length || perEntity <= 0) return [];
    await this.ensure();
    return this.tx(async (sql) => {
      const edges: EntityEdge[] = [];
      const sources = [...new Set((await this.idsIn(sql, names)).map((e) => e.name))];
      for (const source of sources) {
        const rows = await sql.query<{ target: string; weight: number }>(
          `SELECT b.entity AS target, count(*)::int AS weight FROM memory_entities a
             JOIN memories m ON m.workspace_id = a.workspace_id AND m.id = a.memory_id AND NOT m.deleted AND m.duplicate_of IS NULL
             JOIN memory_entities b ON b.workspace_id = a.workspace_id AND b.memory_id = a.memory_id AND b.entity <> a.entity
           WHERE a.workspace_id = $1 AND a.entity = $2
           GROUP BY b.entity ORDER BY weight DESC, b.entity COLLATE "C" LIMIT $3`,
          [this.workspaceId, source, perEntity],
        );
        for (const r of rows) edges.push({ source, target: r.target, type: "co_occurs", weight: r.weight });
      }
      return edges;
    });
  }
}
