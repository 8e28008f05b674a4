/**
 * The MCP reference memory server (`@modelcontextprotocol/server-memory`), spoken to over stdio
 * with the MCP SDK client: `search_nodes` with the query as the agent would send it. It has no
 * vectors and no ranking: an entity matches when the whole query is a case-insensitive substring
 * of its name, type or an observation, in file order; every call re-reads and parses its JSONL
 * file. Each memory is one entity (name = memory id, one observation = the text).
 *
 * The file is written directly in the server's own format (`{"type":"entity",…}` per line):
 * `create_entities` checks each new entity against every existing one (quadratic), which would
 * take hours at 100k, and the file is exactly what it would have written.
 */
import { createWriteStream, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import type { PeerEngine, PeerIndex } from "./engine.ts";

const FILE = "memory.jsonl";

function serverEntry(): string {
  const pkg = createRequire(import.meta.url).resolve("@modelcontextprotocol/server-memory/package.json");
  return join(dirname(pkg), "dist", "index.js");
}

export const mcpMemory: PeerEngine = {
  name: "mcp-memory",
  label: "MCP reference memory server (keyword only: whole-query substring, no vectors, no ranking)",
  vectors: false,
  onDisk: true,
  async build(dir, batches) {
    mkdirSync(dir, { recursive: true });
    const out = createWriteStream(join(dir, FILE));
    for (const docs of batches) {
      const lines = docs.map((d) =>
        JSON.stringify({ type: "entity", name: d.id, entityType: "memory", observations: [d.text] }),
      );
      if (!out.write(`${lines.join("\n")}\n`)) await new Promise<void>((r) => out.once("drain", () => r()));
    }
    await new Promise<void>((resolve, reject) =>
      out.end((err?: Error | null) => (err ? reject(err) : resolve())),
    );
  },
  async open(dir): Promise<PeerIndex> {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [serverEntry()],
      env: { PATH: process.env.PATH ?? "", MEMORY_FILE_PATH: join(dir, FILE) },
      stderr: "ignore",
    });
    const client = new Client({ name: "tribalmemory-bench-peers", version: "0.1.0" });
    await client.connect(transport);
    return {
      pid: transport.pid ?? undefined,
      async search(q, k) {
        const r = await client.callTool({ name: "search_nodes", arguments: { query: q.text } });
        const entities =
          (r.structuredContent as { entities?: { name: string }[] } | undefined)?.entities ?? [];
        return entities.slice(0, k).map((e) => e.name);
      },
      async close() {
        await client.close();
      },
    };
  },
};
