import { createWriteStream, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { SqliteMemoryStore } from "@tribalmemory/daemon/store/sqlite-store";
import { readLocalToken } from "@tribalmemory/shared/config/local-token";
import { newActorId } from "@tribalmemory/shared/memory/document";
import { MemoryService } from "@tribalmemory/shared/service/memory-service";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnDaemon, tempHome } from "../helpers/daemon.ts";
import { callTool, httpTransport } from "../mcp/helpers.ts";

const MEMORIES = 3000;
const CONTENT_CHARS = 24_000;
const HEAP_MIB = 128;
const MCP_BIN = fileURLToPath(new URL("../../cli/bin/tribalmemory-mcp.js", import.meta.url));

/**
 * `POST /v1/export` (TribalMemory's bundle) built the whole answer in memory: every entry in an
 * array, then one JSON string of them all. A store larger than the heap crashed the daemon
 * (here: 72 MB of memories, a 128 MB heap, "JavaScript heap out of memory"); at 1M memories the
 * string alone passes V8's limit (~512 MB). The answer is now written as the entries are read,
 * and the MCP server's export to a file writes them as they arrive.
 */
describe("an export of a store larger than the heap", () => {
  const home = tempHome("tm-export-size-");
  const filler = "z".repeat(CONTENT_CHARS);
  let daemon: Awaited<ReturnType<typeof spawnDaemon>>;

  beforeAll(async () => {
    const dataDir = join(home.home, "data");
    mkdirSync(dataDir, { recursive: true });
    const store = new SqliteMemoryStore({ path: join(dataDir, "memories.db") });
    const service = new MemoryService({ store, actor: newActorId(), instanceId: "t" });
    for (let i = 0; i < MEMORIES; i += 100) {
      await service.rememberMany(
        Array.from({ length: 100 }, (_, j) => ({
          content: `Memory ${i + j}: ${filler}`,
          source_type: "import" as const,
          tags: [`batch-${i / 100}`],
        })),
      );
    }
    await store.close();
    daemon = await spawnDaemon(home.home, ["--embedding", "none"], {
      NODE_OPTIONS: `--max-old-space-size=${HEAP_MIB}`,
    });
  }, 120_000);
  afterAll(() => {
    daemon?.child.kill("SIGTERM");
    home.cleanup();
  });

  it("POST /v1/export streams the bundle, and the daemon stays up", async () => {
    const res = await request(`${daemon.url}/v1/export`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        authorization: `Bearer ${readLocalToken(home.home)}`,
      },
      body: "{}",
    });
    const text = await res.body.text();
    expect(res.statusCode).toBe(200);
    expect(text.length).toBeGreaterThan(MEMORIES * CONTENT_CHARS);
    const body = JSON.parse(text);
    expect(body).toMatchObject({ success: true, memory_count: MEMORIES });
    expect(body.bundle.manifest).toMatchObject({ schema_version: "1.0", memory_count: MEMORIES });
    expectAllEntries(body.bundle.entries);
    // A filtered export, and the daemon still answers after both.
    const some = await request(`${daemon.url}/v1/export`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        authorization: `Bearer ${readLocalToken(home.home)}`,
      },
      body: JSON.stringify({ tags: ["batch-3"] }),
    });
    const part = (await some.body.json()) as { memory_count: number; bundle: { entries: unknown[] } };
    expect(part.memory_count).toBe(100);
    expect(part.bundle.entries).toHaveLength(100);
    const health = await request(`${daemon.url}/v1/health`);
    expect(health.statusCode).toBe(200);
    await health.body.dump();
    expect(daemon.child.exitCode).toBeNull();
  }, 120_000);

  // tribal_export with output_path read the whole bundle into the MCP server, then wrote it: the
  // server died ("JavaScript heap out of memory") under the same heap. It now writes as it reads.
  it("tribal_export writes the bundle to a file as it arrives, under the same heap", async () => {
    const client = await mcpClient(HEAP_MIB);
    try {
      const out = join(home.home, "bundle.json");
      const r = (await client.callTool({ name: "tribal_export", arguments: { output_path: out } })) as {
        isError?: boolean;
        structuredContent: Record<string, unknown>;
      };
      expect(r.isError).toBeFalsy();
      expect(r.structuredContent).toMatchObject({ success: true, memory_count: MEMORIES, output_path: out });
      const bundle = JSON.parse(readFileSync(out, "utf8"));
      expect(bundle.manifest).toMatchObject({ schema_version: "1.0", memory_count: MEMORIES });
      expectAllEntries(bundle.entries);
      expect(statSync(out).mode & 0o777).toBe(0o600);
      const part = (await client.callTool({
        name: "tribal_export",
        arguments: { output_path: out, tags: ["batch-3"] },
      })) as { structuredContent: Record<string, unknown> };
      expect(part.structuredContent.memory_count).toBe(100);
      expect(JSON.parse(readFileSync(out, "utf8")).entries).toHaveLength(100);
      expect(readdirSync(home.home).filter((f) => f.endsWith(".partial"))).toEqual([]);
    } finally {
      await client.close();
    }
  }, 120_000);

  // tribal_import with input_path read the whole file into the MCP server: a JSONL export larger
  // than its heap ended it. A JSONL file is now sent as it is read.
  it("tribal_import sends a JSONL file as it reads it, under a heap smaller than the file", async () => {
    const path = join(home.home, "export.jsonl");
    const res = await request(`${daemon.url}/v1/export?format=jsonl`, {
      headers: { authorization: `Bearer ${readLocalToken(home.home)}` },
    });
    expect(res.statusCode).toBe(200);
    await pipeline(res.body, createWriteStream(path));
    expect(statSync(path).size).toBeGreaterThan(MEMORIES * CONTENT_CHARS);
    const client = await mcpClient(64);
    try {
      const r = (await client.callTool({
        name: "tribal_import",
        arguments: { input_path: path, dry_run: true },
      })) as { isError?: boolean; structuredContent: Record<string, unknown> };
      expect(r.isError).toBeFalsy();
      // Every memory is already here: a dry run counts them all, writes nothing.
      expect(r.structuredContent).toMatchObject({
        success: true,
        dry_run: true,
        total: MEMORIES,
        imported: 0,
      });
      expect(r.structuredContent.skipped).toBe(MEMORIES);
    } finally {
      await client.close();
    }
  }, 120_000);

  // tribal_export inline over the daemon's own /mcp: its answer is one message, which the daemon
  // built whole in its own heap (POST /v1/export through inject, parsed, then the tool's result)
  // and died under. Inline it is bounded: past INLINE_EXPORT_MAX memories it says what to do.
  it("tribal_export inline over the daemon's /mcp refuses a large store, and the daemon stays up", async () => {
    const client = new Client({ name: "export-size-http", version: "1.0.0" });
    await client.connect(httpTransport(daemon.url, { authorization: `Bearer ${readLocalToken(home.home)}` }));
    try {
      const all = await callTool(client, "tribal_export");
      expect(all.isError).toBe(true);
      expect(all.content[0].text).toMatch(/^EXPORT_TOO_LARGE: More than 500 memories match/);
      const some = await callTool(client, "tribal_export", { tags: ["batch-3", "batch-4"] });
      expect(some.isError).toBeFalsy();
      expect(some.structuredContent.memory_count).toBe(200);
      expect(some.structuredContent.entries).toHaveLength(200);
      const health = await request(`${daemon.url}/v1/health`);
      expect(health.statusCode).toBe(200);
      await health.body.dump();
      expect(daemon.child.exitCode).toBeNull();
    } finally {
      await client.close();
    }
  }, 120_000);

  /** The stdio MCP server against this daemon, under a heap of `heapMib`. */
  async function mcpClient(heapMib: number): Promise<Client> {
    const client = new Client({ name: "export-size", version: "1.0.0" });
    await client.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [MCP_BIN],
        env: {
          ...(process.env as Record<string, string>),
          TRIBAL_MEMORY_HOME: home.home,
          TRIBAL_MEMORY_URL: daemon.url,
          NODE_OPTIONS: `--max-old-space-size=${heapMib}`,
        },
        stderr: "pipe",
      }),
    );
    return client;
  }

  function expectAllEntries(entries: { content: string }[]): void {
    expect(entries).toHaveLength(MEMORIES);
    const contents = new Set(entries.map((e) => e.content));
    expect(contents.size).toBe(MEMORIES);
    expect(contents.has(`Memory 0: ${filler}`)).toBe(true);
  }
});
