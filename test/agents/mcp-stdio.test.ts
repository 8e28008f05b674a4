import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempHome, waitFor } from "./helpers.ts";

const MCP_BIN = fileURLToPath(new URL("../../cli/bin/tribalmemory-mcp.js", import.meta.url));

type ToolResult = {
  isError?: boolean;
  content: { type: string; text: string }[];
  structuredContent: Record<string, unknown>;
};

async function connect(env: NodeJS.ProcessEnv, name: string): Promise<Client> {
  const client = new Client({ name, version: "1.0.0" });
  await client.connect(
    new StdioClientTransport({
      command: process.execPath,
      args: [MCP_BIN],
      env: env as Record<string, string>,
      stderr: "pipe",
    }),
  );
  return client;
}

const call = async (c: Client, name: string, args: Record<string, unknown> = {}) =>
  (await c.callTool({ name, arguments: args })) as ToolResult;

describe("tribalmemory-mcp over a real stdio pipe", () => {
  const h = tempHome("tm-mcp-");
  // Port 0: the daemon the MCP server starts picks a free port and records it in daemon.json.
  const env = { ...h.env, TRIBAL_MEMORY_PORT: "0" };
  const dataDir = join(h.tribalHome, "data");
  const daemonPid = () =>
    (JSON.parse(readFileSync(join(dataDir, "daemon.json"), "utf8")) as { pid: number }).pid;
  let a: Client;
  let b: Client;

  beforeAll(async () => {
    // Two agents attach at once to a machine with no daemon: one daemon serves both.
    [a, b] = await Promise.all([
      connect(env, "claude-code"),
      connect({ ...env, TRIBAL_MEMORY_INSTANCE_ID: "codex-laptop" }, "codex"),
    ]);
    await Promise.all([call(a, "tribal_stats"), call(b, "tribal_stats")]);
  }, 60_000);

  afterAll(async () => {
    await a?.close();
    await b?.close();
    try {
      process.kill(daemonPid(), "SIGTERM");
      await waitFor(async () => !existsSync(join(dataDir, "daemon.json")), 10_000);
    } catch {
      // already gone
    }
    h.cleanup();
  });

  it("lists TribalMemory's tools", async () => {
    const { tools } = await a.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(
      [
        "tribal_correct",
        "tribal_entity_graph",
        "tribal_export",
        "tribal_forget",
        "tribal_import",
        "tribal_recall",
        "tribal_recall_entity",
        "tribal_remember",
        "tribal_sessions_ingest",
        "tribal_stats",
      ].sort(),
    );
  });

  it("one daemon serves both agents; source_instance is the client name or TRIBAL_MEMORY_INSTANCE_ID", async () => {
    const r1 = await call(a, "tribal_remember", {
      content: "The staging cluster runs in eu-west-3",
      tags: ["infra"],
    });
    expect(r1.isError).toBeFalsy();
    expect(r1.structuredContent).toMatchObject({ success: true, duplicate_of: null });
    await call(b, "tribal_remember", {
      content: "Codex prefers vitest over jest",
      source_type: "user_explicit",
    });
    const recall = await call(b, "tribal_recall", { query: "which region is staging in", limit: 3 });
    const results = recall.structuredContent.results as {
      content: string;
      source_instance: string;
      type: string;
    }[];
    expect(results[0]).toMatchObject({
      type: "memory",
      content: "The staging cluster runs in eu-west-3",
      source_instance: "claude-code",
    });
    const other = await call(a, "tribal_recall", { query: "vitest jest" });
    expect((other.structuredContent.results as { source_instance: string }[])[0].source_instance).toBe(
      "codex-laptop",
    );
    // Also readable as text by clients that ignore structured content.
    expect(JSON.parse(recall.content[0].text).count).toBe(results.length);
  });

  it("reports wrong argument types and the daemon's errors as tool errors", async () => {
    const bad = await call(a, "tribal_recall", { query: 42, limit: "five" });
    expect(bad.isError).toBe(true);
    expect(bad.content[0].text).toMatch(/Input validation error/);
    const notFound = await call(a, "tribal_forget", { memory_id: "6f1c1d0e-0000-4000-8000-000000000000" });
    expect(notFound.isError).toBe(true);
    expect(notFound.content[0].text).toMatch(/^MEMORY_NOT_FOUND: /);
    expect(notFound.structuredContent).toMatchObject({ error: { code: "MEMORY_NOT_FOUND" } });
    const notId = await call(a, "tribal_correct", { original_id: "nope", corrected_content: "x" });
    expect(notId.content[0].text).toMatch(/^VALIDATION_FAILED: /);
  });

  it("corrects and forgets", async () => {
    const r = await call(a, "tribal_remember", { content: "Deploys happen on Tuesdays" });
    const id = r.structuredContent.memory_id as string;
    const c = await call(a, "tribal_correct", {
      original_id: id,
      corrected_content: "Deploys happen on Thursdays",
    });
    expect(c.structuredContent).toMatchObject({ success: true, supersedes: id });
    const rec = await call(a, "tribal_recall", { query: "when do deploys happen" });
    expect((rec.structuredContent.results as { content: string }[])[0].content).toBe(
      "Deploys happen on Thursdays",
    );
    const f = await call(a, "tribal_forget", { memory_id: c.structuredContent.memory_id as string });
    expect(f.structuredContent).toMatchObject({ success: true });
  });

  it("ingests a session (messages as a JSON string) and recalls it with sources=sessions|all", async () => {
    const messages = JSON.stringify([
      { role: "user", content: "why is the checkout latency spiking" },
      { role: "assistant", content: "the checkout service retries redis lookups without backoff" },
    ]);
    const ing = await call(a, "tribal_sessions_ingest", { session_id: "s-42", messages });
    expect(ing.structuredContent).toMatchObject({ success: true, messages_processed: 2 });
    const again = await call(a, "tribal_sessions_ingest", { session_id: "s-42", messages });
    expect(again.structuredContent).toMatchObject({ messages_processed: 0, duplicates: 2 });
    const s = await call(a, "tribal_recall", { query: "checkout redis backoff", sources: "sessions" });
    const hits = s.structuredContent.results as { type: string; session_id: string; instance_id: string }[];
    expect(hits[0]).toMatchObject({ type: "session", session_id: "s-42", instance_id: "claude-code" });
    const bad = await call(a, "tribal_sessions_ingest", { session_id: "s-43", messages: "[not json" });
    expect(bad.content[0].text).toMatch(/^INVALID_JSON: /);
  });

  it("recalls by entity through the graph, and falls back to recall for unknown names", async () => {
    await call(a, "tribal_remember", { content: "The auth-service issues tokens for billing-service" });
    await call(a, "tribal_remember", { content: "billing-service writes invoices to Postgres" });
    const e = await call(a, "tribal_recall_entity", { entity_name: "auth-service", hops: 2 });
    expect(e.isError).toBeFalsy();
    const contents = (e.structuredContent.results as { content: string }[]).map((r) => r.content);
    expect(contents[0]).toContain("auth-service");
    expect(contents.some((c) => c.includes("invoices"))).toBe(true);
    const g = await call(a, "tribal_entity_graph", { entity_name: "auth-service", hops: 1 });
    expect(g.isError).toBeFalsy();
    const names = (g.structuredContent.entities as { name: string }[]).map((x) => x.name);
    expect([...names].sort()).toEqual(["auth-service", "billing-service"]);
    const unknown = await call(a, "tribal_recall_entity", { entity_name: "staging cluster" });
    expect(unknown.isError).toBeFalsy();
    expect(unknown.structuredContent.entity).toBe("staging cluster");
    const missing = await call(a, "tribal_entity_graph", { entity_name: "no-such-thing-anywhere" });
    expect(missing.content[0].text).toMatch(/^ENTITY_NOT_FOUND: /);
  });

  it("exports to a file and imports it back (dry run: all already present)", async () => {
    const out = join(h.home, "bundle.json");
    const ex = await call(a, "tribal_export", { output_path: out });
    expect(ex.structuredContent).toMatchObject({ success: true, output_path: out });
    expect(JSON.parse(readFileSync(out, "utf8")).entries.length).toBe(ex.structuredContent.memory_count);
    const im = await call(a, "tribal_import", { input_path: out, dry_run: true });
    expect(im.structuredContent).toMatchObject({ success: true, dry_run: true, imported: 0 });
    // The bundle as `GET /v1/export?format=bundle` and `tribalmemory export --format bundle`
    // write it: one line, the manifest first. It was streamed as JSONL and imported 0 of 0.
    const exported = JSON.parse(readFileSync(out, "utf8"));
    const oneLine = join(h.home, "one-line-bundle.json");
    writeFileSync(oneLine, JSON.stringify({ manifest: exported.manifest, entries: exported.entries }));
    const im2 = await call(a, "tribal_import", { input_path: oneLine, dry_run: true });
    expect(im2.structuredContent).toMatchObject({ success: true, total: exported.entries.length });
    writeFileSync(join(h.home, "bad.json"), "{ nope");
    const bad = await call(a, "tribal_import", { input_path: join(h.home, "bad.json") });
    expect(bad.content[0].text).toMatch(/^INVALID_JSON: /);
  });

  it("restarts the daemon when it dies while attached", async () => {
    const before = daemonPid();
    process.kill(before, "SIGKILL");
    await waitFor(async () => {
      try {
        process.kill(before, 0);
        return false;
      } catch {
        return true;
      }
    });
    const r = await call(a, "tribal_recall", { query: "staging region" });
    expect(r.isError).toBeFalsy();
    expect((r.structuredContent.results as { content: string }[])[0].content).toContain("eu-west-3");
    expect(daemonPid()).not.toBe(before);
    // The other agent finds the new daemon too.
    const s = await call(b, "tribal_stats");
    expect(s.isError).toBeFalsy();
  }, 30_000);
});

describe("tribalmemory-mcp in cloud mode", () => {
  it("calls the relay with the Bearer key from ~/.tribal-memory/.env and never starts a daemon", async () => {
    const { createServer } = await import("node:http");
    const seen: { auth?: string; path?: string }[] = [];
    const relay = createServer((req, res) => {
      seen.push({ auth: req.headers.authorization, path: req.url });
      res.setHeader("content-type", "application/json");
      if (req.url === "/v1/recall") {
        res.end(
          JSON.stringify({
            results: [
              {
                memory: {
                  id: "m1",
                  content: "from the relay",
                  source_type: "user_explicit",
                  source_instance: "x",
                  tags: [],
                  created_at: "2026-01-01T00:00:00Z",
                  context: null,
                },
                similarity_score: 0.9,
              },
            ],
          }),
        );
      } else {
        res.statusCode = 401;
        res.end(
          JSON.stringify({ error: { code: "API_KEY_REVOKED", message: "API key revoked at 2026-11-01" } }),
        );
      }
    });
    await new Promise<void>((r) => relay.listen(0, "127.0.0.1", r));
    const port = (relay.address() as { port: number }).port;
    const h = tempHome("tm-mcp-cloud-");
    writeFileSync(
      join(h.tribalHome, ".env"),
      `TRIBAL_MEMORY_CLOUD_URL=http://127.0.0.1:${port}\nTRIBAL_MEMORY_API_KEY=tm_live_k1\n`,
    );
    const c = await connect(h.env, "cloud-agent");
    try {
      const r = await call(c, "tribal_recall", { query: "anything" });
      expect((r.structuredContent.results as { content: string }[])[0].content).toBe("from the relay");
      const s = await call(c, "tribal_stats");
      expect(s.isError).toBe(true);
      expect(s.content[0].text).toBe("API_KEY_REVOKED: API key revoked at 2026-11-01");
      expect(seen).toEqual([
        { auth: "Bearer tm_live_k1", path: "/v1/recall" },
        { auth: "Bearer tm_live_k1", path: "/v1/stats" },
      ]);
      expect(existsSync(join(h.tribalHome, "data", "daemon.json"))).toBe(false);
    } finally {
      await c.close();
      relay.close();
      h.cleanup();
    }
  });
});

describe("tribalmemory-mcp with an unreachable server", () => {
  it("reports DAEMON_UNREACHABLE clearly when TRIBAL_MEMORY_URL names a host it cannot reach", async () => {
    const h = tempHome("tm-mcp-down-");
    const c = await connect({ ...h.env, TRIBAL_MEMORY_URL: "http://nonexistent.invalid:18790" }, "agent");
    try {
      const r = await call(c, "tribal_recall", { query: "x" });
      expect(r.isError).toBe(true);
      expect(r.content[0].text).toMatch(
        /^DAEMON_UNREACHABLE: Cannot reach http:\/\/nonexistent\.invalid:18790/,
      );
    } finally {
      await c.close();
      h.cleanup();
    }
  });
});
