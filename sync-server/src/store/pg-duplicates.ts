import { dedupKey } from "@tribalmemory/shared/memory/content";
import { editMemoryDoc, loadMemoryDoc } from "@tribalmemory/shared/memory/document";
import type { Memory } from "@tribalmemory/shared/memory/types";
import { isHidden, MEMORY_COLUMNS, type MemoryRow, toMemory } from "@tribalmemory/shared/store/memory-rows";
import { planDuplicateMerge } from "@tribalmemory/shared/sync/apply";
import type { Sql } from "./database.ts";
import type { IngestItem } from "./pg-ingest.ts";

/** Changes (by this relay's actor) that merge cross-machine duplicates among `memories`. */
export async function duplicateMergeChanges(
  sql: Sql,
  workspaceId: string,
  actor: string,
  memories: Memory[],
): Promise<IngestItem[]> {
  const keys = [
    ...new Set(memories.filter((m) => !isHidden(m) && m.supersedes === null).map((m) => dedupKey(m.content))),
  ];
  if (!keys.length) return [];
  const rows = await sql.query<MemoryRow & { dedup_key: string; doc: Uint8Array }>(
    `SELECT ${MEMORY_COLUMNS}, m.dedup_key, m.doc FROM memories m WHERE m.workspace_id = $1 AND m.dedup_key = ANY($2::text[])
     AND NOT m.deleted AND m.duplicate_of IS NULL AND m.supersedes IS NULL`,
    [workspaceId, keys],
  );
  const groups = new Map<string, (MemoryRow & { doc: Uint8Array })[]>();
  for (const r of rows) groups.set(r.dedup_key, [...(groups.get(r.dedup_key) ?? []), r]);
  const out: IngestItem[] = [];
  const now = new Date().toISOString();
  for (const group of groups.values()) {
    const plan = planDuplicateMerge(group.map(toMemory));
    if (!plan) continue;
    const docOf = new Map(group.map((r) => [r.id, r.doc]));
    for (const loser of plan.merge) {
      const edit = editMemoryDoc(loadMemoryDoc(docOf.get(loser.id) as Uint8Array, actor), {
        duplicate_of: plan.keep.id,
        updated_at: now,
      });
      if (edit) out.push({ change: edit.change });
    }
    if (plan.addTags.length) {
      const edit = editMemoryDoc(loadMemoryDoc(docOf.get(plan.keep.id) as Uint8Array, actor), {
        addTags: plan.addTags,
        updated_at: now,
      });
      if (edit) out.push({ change: edit.change });
    }
  }
  return out;
}
