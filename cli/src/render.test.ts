import { describe, expect, it } from "vitest";
import { renderRecallTable } from "./render.ts";

const memory = {
  id: "01a24667-400b-7a1d-93bb-4ca937e8ecb7",
  content: "Deploys go out on Tuesdays",
  source_type: "user_explicit",
  source_instance: "claude-code@laptop",
  tags: ["process"],
  context: null,
  confidence: 1,
  supersedes: null,
  duplicate_of: null,
  created_at: "2026-06-14T10:00:00.000Z",
  updated_at: "2026-06-14T10:00:00.000Z",
  deleted: false,
};
const period = { phrase: "in June", after: "2026-06-01T00:00:00.000Z", before: "2026-07-01T00:00:00.000Z" };

describe("the recall table", () => {
  it("says whether the time phrase filtered or only boosted", () => {
    const base = {
      results: [{ memory, similarity_score: 0.71 }],
      query: "deploys in June",
      total_time_ms: 4,
    };
    expect(
      renderRecallTable({ ...base, time_filter: { ...period, mode: "filter" } }, 120).split("\n")[0],
    ).toBe('(time filter from "in June": 2026-06-01 .. 2026-07-01)');
    expect(
      renderRecallTable({ ...base, time_filter: { ...period, mode: "boost" } }, 120).split("\n")[0],
    ).toBe(
      '(time boost from "in June": 2026-06-01 .. 2026-07-01 holds too few memories; those first, then the rest)',
    );
  });

  it("lists memories and leaves session hits to --json instead of failing on them", () => {
    const table = renderRecallTable(
      {
        results: [
          { type: "session", similarity_score: 0.9 },
          { type: "memory", memory, similarity_score: 0.71 },
        ],
        query: "deploys",
        total_time_ms: 4,
        time_filter: null,
      },
      120,
    );
    const rows = table.split("\n");
    expect(rows[1]).toBe(
      "0.71   01a24667 2026-06-14 claude-code@laptop Deploys go out on Tuesdays [process]",
    );
    expect(rows).toHaveLength(3);
  });
});
