import { describe, expect, it } from "vitest";
import type { Memory, MemoryFilters } from "../memory/types.ts";
import type { RecallOutcome } from "../recall/pipeline.ts";
import { recallInProjectScope } from "./project-scope.ts";

const memory = (id: string, project?: string): Memory => ({
  id,
  content: id,
  source_type: "user_explicit",
  source_instance: "t",
  tags: [],
  context: null,
  confidence: 1,
  supersedes: null,
  duplicate_of: null,
  created_at: "2026-01-01T00:00:00.000Z",
  updated_at: "2026-01-01T00:00:00.000Z",
  deleted: false,
  ...(project ? { project } : {}),
});

/** A ranking over fixed memories (best first) that honours the project filter, as the stores do. */
function ranking(memories: Memory[]) {
  const calls: MemoryFilters[] = [];
  const rank = async (filters: MemoryFilters): Promise<RecallOutcome> => {
    calls.push(filters);
    const hits = memories.filter((m) => filters.project === undefined || m.project === filters.project);
    return {
      results: hits.map((m, i) => ({ memory: m, score: 1 - i / 10, signals: {} as never })),
      timeFilter: null,
      timeMode: null,
      lists: ["keyword"],
      timings: { embedMs: 1, searchMs: 2, totalMs: 3 },
    };
  };
  return { rank, calls };
}

describe("recallInProjectScope", () => {
  const ranked = [
    memory("a", "web"),
    memory("b"),
    memory("c", "api"),
    memory("d", "web"),
    memory("e", "api"),
  ];

  it("puts the project's best matches first, then the rest in rank order, cut to the limit", async () => {
    const { rank } = ranking(ranked);
    const out = await recallInProjectScope({ project: "api", limit: 4 }, {}, rank);
    expect(out.results.map((r) => r.memory.id)).toEqual(["c", "e", "a", "b"]);
    // Scores stay each result's own.
    expect(out.results[0].score).toBe(1);
    expect(out.timings.totalMs).toBe(6);
  });

  it("scope project keeps only the project; scope all and no project leave the ranking alone", async () => {
    const only = ranking(ranked);
    const out = await recallInProjectScope({ project: "api", scope: "project", limit: 5 }, {}, only.rank);
    expect(out.results.map((r) => r.memory.id)).toEqual(["c", "e"]);
    expect(only.calls).toEqual([{ project: "api" }]);
    for (const scope of [{ project: "api", scope: "all" as const }, { project: null }]) {
      const plain = ranking(ranked);
      const all = await recallInProjectScope({ ...scope, limit: 5 }, { tags: ["x"] }, plain.rank);
      expect(all.results.map((r) => r.memory.id)).toEqual(["a", "b", "c", "d", "e"]);
      expect(plain.calls).toEqual([{ tags: ["x"] }]);
    }
  });
});
