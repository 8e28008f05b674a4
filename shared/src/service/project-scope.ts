import type { MemoryFilters } from "../memory/types.ts";
import type { RecallOutcome } from "../recall/pipeline.ts";

export interface ProjectScope {
  /** The caller's project (remember's `project`, the MCP client's roots). */
  project?: string | null;
  /** `project`: only its memories; `all`: every memory by score; absent: the project's first. */
  scope?: "project" | "all";
  limit: number;
}

/**
 * Recall's project preference, applied after the ranking pipeline (which knows nothing of
 * projects): with a project and no scope, the project's best matches come first and the rest
 * of the ranking fills what is left of `limit`, each result keeping its own score. Ranked
 * twice (once filtered to the project, once not) rather than by reordering one list: a
 * project's memory ranked 8th overall would fall off a top 5 that the preference must show.
 * The query's vector is cached by the service, so the second pass costs the searches only.
 * `scope: "project"` is the store filter alone; without a project the scope changes nothing.
 */
export async function recallInProjectScope(
  scope: ProjectScope,
  filters: MemoryFilters,
  rank: (filters: MemoryFilters) => Promise<RecallOutcome>,
): Promise<RecallOutcome> {
  const project = scope.project ?? undefined;
  if (project === undefined || scope.scope === "all") return rank(filters);
  if (scope.scope === "project") return rank({ ...filters, project });
  const own = await rank({ ...filters, project });
  const everything = await rank(filters);
  return projectFirst(own, everything, scope.limit);
}

/** The project's results, then the others in their order, without repeats, cut to `limit`. */
export function projectFirst(own: RecallOutcome, everything: RecallOutcome, limit: number): RecallOutcome {
  const seen = new Set(own.results.map((r) => r.memory.id));
  const rest = everything.results.filter((r) => !seen.has(r.memory.id));
  return {
    ...everything,
    results: [...own.results, ...rest].slice(0, limit),
    timeFilter: everything.timeFilter ?? own.timeFilter,
    timeMode: everything.timeMode ?? own.timeMode,
    timings: {
      embedMs: own.timings.embedMs + everything.timings.embedMs,
      searchMs: own.timings.searchMs + everything.timings.searchMs,
      totalMs: own.timings.totalMs + everything.timings.totalMs,
    },
  };
}
