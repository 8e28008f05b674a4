import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * Sample files in each peer format, written by the tests (no copies of other projects' data):
 * shapes as each tool writes them, with facts made up for these tests.
 */

export const PYTHON_IDS = {
  deploy: "6f1d2c3b-4a5e-4f60-8a7b-9c0d1e2f3a4b",
  legacy: "0b9a8c7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d",
  correction: "5e4d3c2b-1a09-4f8e-8d7c-6b5a4f3e2d1c",
};
export const MEM0_IDS = [
  "a1f3c1e2-7b44-4f0e-9a52-2f4f7c0e9d11",
  "b2e4d2f3-8c55-4a1f-8b63-3a5a8d1fae22",
  "c3f5e3a4-9d66-4b2a-9c74-4b6b9e2abf33",
];

/** `memory.jsonl` of @modelcontextprotocol/server-memory: 4 entities (one without observations), 3 relations. */
export function writeMcpMemory(dir: string): string {
  const file = join(dir, "memory.jsonl");
  const lines = [
    {
      type: "entity",
      name: "Ana_Lima",
      entityType: "person",
      observations: ["Speaks fluent Portuguese", "Leads the payments team"],
    },
    {
      type: "entity",
      name: "Harbor Labs",
      entityType: "organization",
      observations: ["Builds the checkout SDK"],
    },
    {
      type: "entity",
      name: "checkout-sdk",
      entityType: "project",
      observations: ["Written in TypeScript", "Ships every Tuesday"],
    },
    { type: "entity", name: "Lisbon", entityType: "place", observations: [] },
    { type: "relation", from: "Ana_Lima", to: "Harbor Labs", relationType: "works_at" },
    { type: "relation", from: "Harbor Labs", to: "checkout-sdk", relationType: "maintains" },
    { type: "relation", from: "Ana_Lima", to: "Lisbon", relationType: "lives_in" },
  ];
  writeFileSync(file, `${lines.map((l) => JSON.stringify(l)).join("\n")}\n`);
  return file;
}

/**
 * A `~/.claude` folder: the user's CLAUDE.md and a rules file, a plugin's CLAUDE.md (not to be
 * imported), and one project's auto memory (a MEMORY.md index whose first line points at a fact
 * file, and that fact file with frontmatter).
 */
export function writeClaudeCode(dir: string): string {
  const root = join(dir, ".claude");
  const memory = join(root, "projects", "-home-ana-src-shop", "memory");
  mkdirSync(memory, { recursive: true });
  writeFileSync(
    join(root, "CLAUDE.md"),
    [
      "# Preferences",
      "",
      "- Answer in British English",
      "- Prefer small commits with clear messages",
      "  that say why, not what",
      "",
      "## Tools",
      "",
      "Use ripgrep rather than grep for searching code.",
      "",
    ].join("\n"),
  );
  mkdirSync(join(root, "rules"));
  writeFileSync(join(root, "rules", "style.md"), "- Two-space indentation in TypeScript files\n");
  // A plugin's own CLAUDE.md is someone else's instructions, not the user's memory.
  mkdirSync(join(root, "plugins", "some-plugin"), { recursive: true });
  writeFileSync(join(root, "plugins", "some-plugin", "CLAUDE.md"), "- Plugin maintainers run make release\n");
  writeFileSync(
    join(memory, "MEMORY.md"),
    [
      "- [Testing](testing.md) — how tests run in the shop",
      "- The staging database is reset every Sunday night",
      "",
    ].join("\n"),
  );
  writeFileSync(
    join(memory, "testing.md"),
    [
      "---",
      "name: testing",
      "description: how tests run in the shop project",
      "metadata:",
      "  type: project",
      "---",
      "Run the shop tests with `pnpm vitest run` against a real Postgres.",
      "",
      "- Integration tests need the docker compose stack up",
      "",
    ].join("\n"),
  );
  return root;
}

const mem0Memories = [
  {
    id: MEM0_IDS[0],
    memory: "Prefers window seats on long flights",
    user_id: "ana",
    agent_id: null,
    run_id: null,
    hash: "5d41402abc4b2a76b9719d911017c592",
    metadata: { source: "chat" },
    categories: ["travel", "preferences"],
    created_at: "2025-03-02T09:15:00.123456-08:00",
    updated_at: "2025-03-05T10:00:00-08:00",
  },
  {
    id: MEM0_IDS[1],
    memory: "Is allergic to peanuts",
    user_id: "ana",
    agent_id: "health-assistant",
    metadata: null,
    categories: ["health"],
    created_at: "2025-04-11T12:00:00+00:00",
    updated_at: null,
  },
  {
    id: MEM0_IDS[2],
    memory: "Learning to play the cello",
    user_id: "ana",
    metadata: null,
    categories: null,
    created_at: "2025-05-20T18:30:00Z",
  },
];

/** mem0's `get_all` output with graph memory on ({results, relations}), and the same memories as a bare array. */
export function writeMem0(dir: string): { results: string; bare: string } {
  const results = join(dir, "mem0-export.json");
  writeFileSync(
    results,
    JSON.stringify(
      { results: mem0Memories, relations: [{ source: "ana", relationship: "visited", target: "kyoto" }] },
      null,
      2,
    ),
  );
  const bare = join(dir, "mem0-array.json");
  writeFileSync(bare, JSON.stringify(mem0Memories, null, 2));
  return { results, bare };
}

/** A basic-memory project folder: two notes with frontmatter, observations and relations. */
export function writeBasicMemory(dir: string): string {
  const root = join(dir, "basic-memory");
  mkdirSync(join(root, "people"), { recursive: true });
  writeFileSync(
    join(root, "coffee-brewing.md"),
    [
      "---",
      "title: Coffee Brewing Methods",
      "type: note",
      "tags: [coffee, brewing]",
      "permalink: coffee-brewing-methods",
      "---",
      "",
      "# Coffee Brewing Methods",
      "",
      "Notes from a year of weekend experiments.",
      "",
      "## Observations",
      "- [method] Pour over gives more clarity than a French press #flavor",
      "- [technique] Water at 96 °C extracts best #brewing (after many tests)",
      "- [ ] try the AeroPress",
      "",
      "## Relations",
      "- relates_to [[Coffee Bean Origins]]",
      "- requires [[Burr Grinder]]",
      "",
    ].join("\n"),
  );
  writeFileSync(
    join(root, "people", "ana-lima.md"),
    [
      "---",
      "title: Ana Lima",
      "type: person",
      "tags: team",
      "permalink: people/ana-lima",
      "---",
      "",
      "## Observations",
      "- [role] Reviews every payments pull request",
      "",
      "## Relations",
      "- member_of [[Harbor Labs]]",
      "",
    ].join("\n"),
  );
  return root;
}

/** The Python TribalMemory's `/v1/export` answer: {success, memory_count, bundle: {manifest, entries}}. */
export function writeTribalMemoryPython(dir: string): string {
  const file = join(dir, "tribal-python-export.json");
  const entry = (id: string, content: string, extra: Record<string, unknown>) => ({
    id,
    content,
    embedding: [0.1, 0.2, 0.3, 0.4],
    source_instance: "claude-code@laptop",
    source_type: "user_explicit",
    created_at: "2025-01-10T08:30:00.250000",
    updated_at: "2025-01-10T08:30:00.250000",
    tags: ["infra"],
    context: "from a chat about deploys",
    confidence: 1.0,
    supersedes: null,
    related_to: [],
    ...extra,
  });
  const entries = [
    entry(PYTHON_IDS.deploy, "Deploys of the billing service go out on Tuesdays", {}),
    entry(PYTHON_IDS.legacy, "The old cron host is called atlas", {
      source_type: "legacy",
      tags: [],
      context: null,
      created_at: "2024-11-02T17:05:00",
      updated_at: "2024-11-02T17:05:00",
    }),
    entry(PYTHON_IDS.correction, "Deploys of the billing service go out on Wednesdays", {
      source_type: "correction",
      supersedes: PYTHON_IDS.deploy,
      created_at: "2025-02-01T09:00:00+00:00",
      updated_at: "2025-02-01T09:00:00+00:00",
    }),
  ];
  const manifest = {
    schema_version: "1.0",
    embedding: { model_name: "text-embedding-3-small", dimensions: 4, provider: "openai" },
    memory_count: entries.length,
    exported_at: "2025-02-02T00:00:00+00:00",
  };
  writeFileSync(
    file,
    JSON.stringify({ success: true, memory_count: entries.length, bundle: { manifest, entries } }, null, 2),
  );
  return file;
}
