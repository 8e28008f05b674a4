import type { MemoryFilters } from "@tribalmemory/shared/memory/types";

/** Positional parameters for a statement built piece by piece. */
export class Params {
  readonly values: unknown[] = [];
  add(v: unknown): string {
    this.values.push(v);
    return `$${this.values.length}`;
  }
}

/**
 * WHERE clause over alias `m`: the workspace, visibility (forgotten, merged and superseded
 * memories hidden unless asked) and the caller's filters.
 */
export function filterSql(workspaceId: string, f: MemoryFilters, p: Params): string {
  const parts = [`m.workspace_id = ${p.add(workspaceId)}`];
  if (!f.includeDeleted) parts.push("NOT m.deleted AND m.duplicate_of IS NULL");
  if (!f.includeSuperseded) {
    parts.push(
      "NOT EXISTS (SELECT 1 FROM memories s WHERE s.workspace_id = m.workspace_id AND s.supersedes = m.id AND NOT s.deleted)",
    );
  }
  if (f.expiredAt !== undefined) {
    parts.push(`m.expires_ms <= ${p.add(Math.floor(f.expiredAt))}`);
  } else if (!f.includeExpired) {
    // Expired memories are gone for every read, before the sweep forgets them.
    parts.push(`(m.expires_ms IS NULL OR m.expires_ms > ${p.add(Math.floor(f.activeAt ?? Date.now()))})`);
  }
  if (f.project !== undefined) parts.push(`m.project = ${p.add(f.project)}`);
  if (f.tags?.length) parts.push(`m.tags && ${p.add(f.tags)}::text[]`);
  if (f.sourceInstance) parts.push(`m.source_instance = ${p.add(f.sourceInstance)}`);
  if (f.sourceType) parts.push(`m.source_type = ${p.add(f.sourceType)}`);
  if (f.entityNames?.length) {
    const names = p.add(f.entityNames);
    parts.push(
      `m.id IN (SELECT me.memory_id FROM memory_entities me WHERE me.workspace_id = m.workspace_id AND (
        me.entity = ANY(${names}::text[]) OR me.entity IN (
          SELECT a.entity FROM entity_aliases a WHERE a.workspace_id = m.workspace_id AND a.alias = ANY(${names}::text[]))))`,
    );
  }
  if (f.matchEventDates && (f.after !== undefined || f.before !== undefined)) {
    // Written in the range, or telling of a day in it ("on Friday we moved to Postgres").
    const after = p.add(f.after === undefined ? Number.MIN_SAFE_INTEGER : Math.floor(f.after));
    const before = p.add(f.before === undefined ? Number.MAX_SAFE_INTEGER : Math.ceil(f.before));
    parts.push(
      `(m.created_ms >= ${after}::bigint AND m.created_ms < ${before}::bigint OR m.id IN (
        SELECT d.memory_id FROM memory_event_dates d WHERE d.workspace_id = m.workspace_id
          AND d.start_ms < ${before}::bigint AND d.end_ms > ${after}::bigint))`,
    );
  } else {
    if (f.after !== undefined) parts.push(`m.created_ms >= ${p.add(Math.floor(f.after))}`);
    if (f.before !== undefined) parts.push(`m.created_ms < ${p.add(Math.ceil(f.before))}`);
  }
  return parts.join(" AND ");
}
