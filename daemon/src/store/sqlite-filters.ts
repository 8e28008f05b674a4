import type { MemoryFilters } from "@tribalmemory/shared/memory/types";

/** A WHERE clause over alias `m` with its named parameters. */
export interface FilterSql {
  sql: string;
  params: Record<string, unknown>;
  /** Narrows beyond visibility (so a filtered scan beats ranking everything first). */
  selective: boolean;
  /**
   * A statement of the rowids the narrowing conditions alone admit, without visibility (each
   * condition has an index to read: rowids from indexes, not rows); null without any.
   */
  narrow: string | null;
}

/**
 * Whether the memory of `alias.rid` is live (not forgotten, not a duplicate), looked up in the
 * small `memories_live` index instead of its row (schema.ts): for counts over many rows.
 */
export const liveRid = (alias: string): string =>
  `EXISTS (SELECT 1 FROM memories l INDEXED BY memories_live
     WHERE l.rid = ${alias}.rid AND l.deleted = 0 AND l.duplicate_of IS NULL)`;

/** WHERE clause over alias `m` for visibility and filters. `selective` = narrows beyond visibility. */
export function buildFilters(f: MemoryFilters): FilterSql {
  const parts: string[] = [];
  const params: Record<string, unknown> = {};
  let selective = false;
  /** Narrowing conditions that are sets of rowids (tags, entities), as their own statements. */
  const ridSets: string[] = [];
  if (!f.includeDeleted) parts.push("m.deleted = 0 AND m.duplicate_of IS NULL");
  if (!f.includeSuperseded) {
    parts.push("NOT EXISTS (SELECT 1 FROM memories s WHERE s.supersedes = m.id AND s.deleted = 0)");
  }
  if (f.expiredAt === undefined && !f.includeExpired) {
    // Expired memories are gone for every read, before the sweep forgets them.
    parts.push("(m.expires_ms IS NULL OR m.expires_ms > @f_active_at)");
    params.f_active_at = Math.floor(f.activeAt ?? Date.now());
  }
  /** Where `parts` stop holding visibility: the rest narrows. */
  const narrowFrom = parts.length;
  if (f.expiredAt !== undefined) {
    parts.push("m.expires_ms <= @f_expired_at");
    params.f_expired_at = Math.floor(f.expiredAt);
    selective = true;
  }
  if (f.project !== undefined) {
    parts.push("m.project = @f_project");
    params.f_project = f.project;
    selective = true;
  }
  if (f.tags?.length) {
    ridSets.push("SELECT rid FROM memory_tags WHERE tag IN (SELECT value FROM json_each(@f_tags))");
    parts.push(`m.rid IN (${ridSets.at(-1)})`);
    params.f_tags = JSON.stringify(f.tags);
    selective = true;
  }
  if (f.sourceInstance) {
    parts.push("m.source_instance = @f_instance");
    params.f_instance = f.sourceInstance;
    selective = true;
  }
  if (f.sourceType) {
    parts.push("m.source_type = @f_type");
    params.f_type = f.sourceType;
    selective = true;
  }
  if (f.entityNames?.length) {
    ridSets.push(
      `SELECT me.rid FROM memory_entities me WHERE me.eid IN (
        SELECT eid FROM entities WHERE name IN (SELECT value FROM json_each(@f_entities))
        UNION SELECT eid FROM entity_aliases WHERE alias IN (SELECT value FROM json_each(@f_entities)))`,
    );
    parts.push(`m.rid IN (${ridSets.at(-1)})`);
    params.f_entities = JSON.stringify(f.entityNames);
    selective = true;
  }
  if (f.matchEventDates && (f.after !== undefined || f.before !== undefined)) {
    // Written in the range, or telling of a day in it ("on Friday we moved to Postgres").
    params.f_after = f.after ?? Number.MIN_SAFE_INTEGER;
    params.f_before = f.before ?? Number.MAX_SAFE_INTEGER;
    parts.push(
      `(m.created_ms >= @f_after AND m.created_ms < @f_before OR m.rid IN (
        SELECT rid FROM memory_event_dates WHERE start_ms < @f_before AND end_ms > @f_after))`,
    );
    selective = true;
  } else {
    if (f.after !== undefined) {
      parts.push("m.created_ms >= @f_after");
      params.f_after = f.after;
      selective = true;
    }
    if (f.before !== undefined) {
      parts.push("m.created_ms < @f_before");
      params.f_before = f.before;
      selective = true;
    }
  }
  const narrowing = parts.slice(narrowFrom);
  let narrow: string | null = null;
  if (narrowing.length && ridSets.length === narrowing.length) {
    // Rowid sets only: read from their own indexes, without looking each memory up.
    narrow = ridSets.map((set) => `SELECT rid FROM (${set})`).join(" INTERSECT ");
    if (ridSets.length === 1) narrow = `SELECT DISTINCT rid FROM (${ridSets[0]})`;
  } else if (narrowing.length) {
    narrow = `SELECT m.rid FROM memories m WHERE ${narrowing.join(" AND ")}`;
  }
  return { sql: parts.length ? parts.join(" AND ") : "1", params, selective, narrow };
}
