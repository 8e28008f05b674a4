import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { TribalError } from "@tribalmemory/shared/errors";
import type { Memory } from "@tribalmemory/shared/memory/types";
import { TribalClient } from "tribalmemory/client";
import {
  type PeerImportReport,
  readPeerFormat,
  runPeerImport,
} from "tribalmemory/import-formats/peer-import";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli, startTestDaemon, tempHome } from "../helpers/daemon.ts";
import {
  MEM0_IDS,
  PYTHON_IDS,
  writeBasicMemory,
  writeClaudeCode,
  writeMcpMemory,
  writeMem0,
  writeTribalMemoryPython,
} from "./peer-samples.ts";

/**
 * `tribalmemory import --from <format>`: the real CLI process against a real daemon, on sample
 * files of each peer format that the test writes.
 */
describe("import --from another memory tool", () => {
  let h: ReturnType<typeof tempHome>;
  let d: Awaited<ReturnType<typeof startTestDaemon>>;
  let dir: string;
  beforeAll(async () => {
    h = tempHome("tm-peer-import-");
    d = await startTestDaemon(h.home);
    dir = mkdtempSync(join(h.home, "samples-"));
  });
  afterAll(async () => {
    await d?.close();
    h?.cleanup();
  });

  const cli = (args: string[]) => runCli(h.home, ["--url", d.url, "import", ...args]);
  const report = async (args: string[]): Promise<PeerImportReport> => {
    const r = await cli([...args, "--json"]);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as PeerImportReport;
  };
  const count = async (): Promise<number> => (await d.api.get("/v1/stats")).body.total_memories;
  const byContent = async (): Promise<Map<string, Memory>> => {
    const res = await d.api.get("/v1/export?format=jsonl");
    const text = typeof res.body === "string" ? res.body : JSON.stringify(res.body);
    const rows = text
      .split("\n")
      .filter((l) => l.trim() && !l.startsWith('{"manifest"'))
      .map((l) => JSON.parse(l) as Memory);
    return new Map(rows.map((m) => [m.content, m]));
  };

  /**
   * Dry run (writes nothing), import through the CLI process, import again (adds nothing): the
   * CLI's report of the import. The dry run and the re-run call the same code in this process.
   */
  async function importIdempotently(format: string, path: string, kinds: Record<string, number>) {
    const client = new TribalClient(d.url, null, { env: {}, home: h.home });
    const run = (dryRun: boolean) =>
      runPeerImport(client, format, readPeerFormat(format, path), { conflict: "skip", dryRun });
    const before = await count();
    const expected = Object.values(kinds).reduce((a, b) => a + b, 0);
    const dry = await run(true);
    expect(dry.dry_run).toBe(true);
    expect(Object.fromEntries(Object.entries(dry.kinds).map(([k, c]) => [k, c.found]))).toEqual(kinds);
    expect(Object.fromEntries(Object.entries(dry.kinds).map(([k, c]) => [k, c.imported]))).toEqual(kinds);
    expect(await count()).toBe(before);

    const first = await report(["--from", format, path]);
    expect(first.totals).toMatchObject({ total: expected, imported: expected, errors: 0 });
    expect(await count()).toBe(before + expected);

    const again = await run(false);
    // Skipped by id (stable ids), not by the content rule: duplicates stays 0.
    expect(again.totals).toMatchObject({
      total: expected,
      imported: 0,
      skipped: expected,
      duplicates: 0,
      errors: 0,
    });
    expect(await count()).toBe(before + expected);
    return first;
  }

  it("mcp-memory: observations about their entity, relations about both, an entity without observations", async () => {
    const file = writeMcpMemory(dir);
    const dry = await cli(["--from", "mcp-memory", "--dry-run", file]);
    expect(dry.stdout).toMatch(
      /^mcp-memory: would import 9 of 9 from 1 file\(s\) \(dry run: nothing written\); skipped 0 \(0 duplicates\), errors 0; 4 entities named\n/,
    );
    expect(dry.stdout).toMatch(/observation\s+5\s+5\s+0\s+0\n/);
    const r = await importIdempotently("mcp-memory", file, {
      observation: 5,
      entity: 1,
      relation: 3,
    });
    expect(r.entities).toBe(4);
    const all = await byContent();
    const spoken = all.get("Ana Lima: Speaks fluent Portuguese");
    expect(spoken?.tags).toEqual(expect.arrayContaining(["mcp-memory", "person"]));
    expect(spoken?.context).toMatchObject({ imported_from: "mcp-memory", entities: ["Ana_Lima"] });
    expect(all.get("Ana Lima works at Harbor Labs")?.tags).toEqual(
      expect.arrayContaining(["relation", "works_at"]),
    );
    expect(all.has("Lisbon (place)")).toBe(true);
    // The daemon's entity index knows "Ana_Lima" as the person "ana lima", with both kinds of memory.
    const ana = await d.api.get("/v1/entities/Ana%20Lima/memories?limit=20");
    expect(ana.status).toBe(200);
    const contents = ana.body.results.map((x: { memory: Memory }) => x.memory.content);
    expect(contents).toEqual(
      expect.arrayContaining(["Ana Lima: Leads the payments team", "Ana Lima lives in Lisbon"]),
    );
  });

  it("claude-code: CLAUDE.md and a project's auto memory, items and paragraphs tagged with the project", async () => {
    const root = writeClaudeCode(dir);
    const r = await importIdempotently("claude-code", root, { bullet: 5, paragraph: 2 });
    expect(r.files).toBe(4);
    const all = await byContent();
    const british = all.get("Answer in British English");
    expect(british?.tags).toEqual(expect.arrayContaining(["claude-code", "project:user", "claude-md"]));
    expect(british?.context).toMatchObject({ project: "user", file: "CLAUDE.md", section: "Preferences" });
    expect(
      [...all.keys()].some((c) => c.startsWith("Prefer small commits") && c.includes("that say why")),
    ).toBe(true);
    expect(all.get("Use ripgrep rather than grep for searching code.")?.context).toMatchObject({
      section: "Preferences > Tools",
    });
    const staging = all.get("The staging database is reset every Sunday night");
    expect(staging?.tags).toEqual(expect.arrayContaining(["project:home-ana-src-shop", "auto-memory"]));
    const fact = all.get("Run the shop tests with `pnpm vitest run` against a real Postgres.");
    expect(fact?.tags).toEqual(expect.arrayContaining(["project:home-ana-src-shop", "project"]));
    expect(fact?.context).toMatchObject({ memory_name: "testing" });
    // --project names the project instead of the path.
    const named = readPeerFormat("claude-code", root, { project: "shop" });
    expect(new Set(named.memories.map((m) => m.tags[0]))).toEqual(new Set(["project:shop"]));
    expect(all.get("Two-space indentation in TypeScript files")?.tags).toEqual(
      expect.arrayContaining(["project:user", "rules"]),
    );
    expect(all.has("Plugin maintainers run make release")).toBe(false);
    // MEMORY.md's link to testing.md is an index line, not a memory: the fact file is imported instead.
    expect([...all.keys()].some((c) => c.includes("[Testing](testing.md)"))).toBe(false);
  });

  it("mem0: memories keep created_at and updated_at, categories and ids; a bare array of the same imports nothing new", async () => {
    const { results, bare } = writeMem0(dir);
    await importIdempotently("mem0", results, { memory: 3, relation: 1 });
    const all = await byContent();
    const seats = all.get("Prefers window seats on long flights");
    expect(seats?.created_at).toBe("2025-03-02T17:15:00.123Z");
    expect(seats?.updated_at).toBe("2025-03-05T18:00:00.000Z");
    expect(seats?.tags).toEqual(expect.arrayContaining(["mem0", "travel", "preferences", "user:ana"]));
    expect(seats?.context).toMatchObject({
      mem0: { id: MEM0_IDS[0], user_id: "ana", metadata: { source: "chat" } },
    });
    expect(all.get("Is allergic to peanuts")?.tags).toEqual(
      expect.arrayContaining(["agent:health-assistant"]),
    );
    expect(all.get("Learning to play the cello")?.created_at).toBe("2025-05-20T18:30:00.000Z");
    expect(all.has("ana visited kyoto")).toBe(true);
    const client = new TribalClient(d.url, null, { env: {}, home: h.home });
    const again = await runPeerImport(client, "mem0", readPeerFormat("mem0", bare), {
      conflict: "skip",
      dryRun: false,
    });
    expect(again.totals).toMatchObject({ total: 3, imported: 0, skipped: 3 });
  });

  it("basic-memory: observations with category and #tags, relations, the note's prose", async () => {
    const root = writeBasicMemory(dir);
    const r = await importIdempotently("basic-memory", root, {
      observation: 3,
      relation: 3,
      note: 1,
    });
    expect(r.files).toBe(2);
    const all = await byContent();
    const pour = all.get("Coffee Brewing Methods: Pour over gives more clarity than a French press");
    expect(pour?.tags).toEqual(
      expect.arrayContaining(["basic-memory", "coffee", "brewing", "method", "flavor"]),
    );
    expect(pour?.context).toMatchObject({ permalink: "coffee-brewing-methods", category: "method" });
    expect(all.get("Coffee Brewing Methods: Water at 96 °C extracts best")?.context).toMatchObject({
      observation_context: "after many tests",
    });
    expect(all.get("Coffee Brewing Methods relates to Coffee Bean Origins")?.tags).toEqual(
      expect.arrayContaining(["relation", "relates_to"]),
    );
    expect(all.get("Ana Lima member of Harbor Labs")?.tags).toEqual(
      expect.arrayContaining(["person", "team"]),
    );
    const note = [...all.values()].find((m) =>
      m.content.startsWith("Coffee Brewing Methods\n\nNotes from a year"),
    );
    // A task item is not an observation: it stays in the note's prose.
    expect(note?.content).toContain("- [ ] try the AeroPress");
  });

  it("tribalmemory-python: an export keeps its ids, provenance, zone-less times (as UTC), context and corrections", async () => {
    const file = writeTribalMemoryPython(dir);
    await importIdempotently("tribalmemory-python", file, { memory: 2, correction: 1 });
    const deploy = (await d.api.get(`/v1/memories/${PYTHON_IDS.deploy}`)).body as Memory;
    expect(deploy).toMatchObject({
      source_instance: "claude-code@laptop",
      source_type: "user_explicit",
      created_at: "2025-01-10T08:30:00.250Z",
      tags: ["infra"],
      context: "from a chat about deploys",
    });
    const legacy = (await d.api.get(`/v1/memories/${PYTHON_IDS.legacy}`)).body as Memory;
    expect(legacy).toMatchObject({ source_type: "legacy", created_at: "2024-11-02T17:05:00.000Z", tags: [] });
    const fix = (await d.api.get(`/v1/memories/${PYTHON_IDS.correction}`)).body as Memory;
    expect(fix.supersedes).toBe(PYTHON_IDS.deploy);
    // The same entries as JSONL with a manifest line: every id is already there.
    const { bundle } = JSON.parse(readFileSync(file, "utf8"));
    const jsonl = join(dir, "tribal-python-export.jsonl");
    const lines = [{ manifest: bundle.manifest }, ...bundle.entries].map((l) => JSON.stringify(l));
    writeFileSync(jsonl, `${lines.join("\n")}\n`);
    const client = new TribalClient(d.url, null, { env: {}, home: h.home });
    const source = readPeerFormat("tribalmemory-python", jsonl);
    expect(source.manifest).toEqual(bundle.manifest);
    const again = await runPeerImport(client, "tribalmemory-python", source, {
      conflict: "skip",
      dryRun: true,
    });
    expect(again.totals).toMatchObject({ total: 3, imported: 0, skipped: 3, duplicates: 0 });
    // A compact bundle on one line is a bundle, not a JSONL manifest line.
    const compact = join(dir, "tribal-python-compact.json");
    writeFileSync(compact, JSON.stringify(bundle));
    expect(readPeerFormat("tribalmemory-python", compact).memories.map((m) => m.id)).toEqual(
      Object.values(PYTHON_IDS),
    );
  });

  it("refuses a malformed file with its line and IMPORT_INVALID, importing nothing", async () => {
    const before = await count();
    const bad = join(dir, "bad");
    mkdirSync(bad);
    /** The reader's refusal (no request is made before the whole source is read). */
    const refuse = (format: string, path: string, where: RegExp, line?: number) => {
      let err: unknown;
      try {
        readPeerFormat(format, path);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(TribalError);
      expect((err as TribalError).code).toBe("IMPORT_INVALID");
      expect((err as TribalError).message).toMatch(where);
      if (line !== undefined) expect((err as TribalError).details).toEqual({ line });
    };
    const jsonl = join(bad, "memory.jsonl");
    writeFileSync(
      jsonl,
      `${JSON.stringify({ type: "entity", name: "Zed", entityType: "person", observations: ["Likes tea"] })}\n\n{"type":"entity","name":\n`,
    );
    // Through the CLI process: exit 1, the code and the line on stderr, nothing written.
    const r = await cli(["--from", "mcp-memory", jsonl]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /IMPORT_INVALID: memory\.jsonl:3: not JSON .*Nothing was imported; fix that line/,
    );
    expect(await count()).toBe(before);

    writeFileSync(jsonl, `${JSON.stringify({ type: "entity", name: "Zed", entityType: "person" })}\n`);
    refuse("mcp-memory", jsonl, /memory\.jsonl:1: observations: /, 1);
    const mem0 = join(bad, "mem0.json");
    writeFileSync(
      mem0,
      '{\n  "results": [\n    {"id": "x1", "memory": "Likes tea"}\n    {"id": "x2"}\n  ]\n}\n',
    );
    refuse("mem0", mem0, /mem0\.json:4: not valid JSON/, 4);
    writeFileSync(
      mem0,
      '{\n  "results": [\n    {"id": "x1", "memory": "Likes tea"},\n    {"id": "x2"}\n  ]\n}\n',
    );
    refuse("mem0", mem0, /mem0\.json:4: memory 2: memory: /, 4);
    writeFileSync(mem0, '{"memories_list": []}');
    refuse("mem0", mem0, /mem0\.json:1: expected mem0's get_all output/, 1);
    const notes = join(bad, "notes");
    mkdirSync(notes);
    writeFileSync(join(notes, "broken.md"), "---\ntitle: Broken\ntags: [a, b\n---\n- [fact] Likes tea\n");
    refuse("basic-memory", notes, /broken\.md:\d+: frontmatter is not valid YAML/);
    refuse("claude-code", join(notes, "broken.md"), /broken\.md:\d+: frontmatter is not valid YAML/);
    refuse("claude-code", bad, /No Claude Code memory files under/);
    const py = join(bad, "export.jsonl");
    writeFileSync(
      py,
      `${JSON.stringify({ id: PYTHON_IDS.deploy, content: "ok" })}\n${JSON.stringify({ id: "x" })}\n`,
    );
    refuse("tribalmemory-python", py, /export\.jsonl:2: entry 2: content: /, 2);
    expect(() => readPeerFormat("evernote", jsonl)).toThrow(
      /Unknown import format "evernote"\. Use one of: mcp-memory/,
    );
    expect(await count()).toBe(before);
  });

  it("names the source file and line of an entry the daemon refuses, importing the rest", async () => {
    const notes = join(dir, "big-notes");
    mkdirSync(notes);
    writeFileSync(
      join(notes, "big.md"),
      `---\ntitle: Big Note\n---\n- [fact] A short fact about big notes\n- [fact] ${"x".repeat(40_000)}\n`,
    );
    const r = await cli(["--from", "basic-memory", notes]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/basic-memory: imported 1 of 2 from 1 file\(s\); .*errors 1/);
    expect(r.stderr).toMatch(/big\.md:5: .*KiB/);
  });
});
