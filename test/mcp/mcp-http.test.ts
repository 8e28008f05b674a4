import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { readLocalToken } from "@tribalmemory/shared/config/local-token";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiClient, startTestDaemon, tempHome } from "../helpers/daemon.ts";
import { useTestRelay, workspaceKey } from "../helpers/relay.ts";
import { expectConformance, SCENARIOS } from "./conformance.ts";
import { callTool, gitRepo, httpTransport, rawInitialize, rootsClient } from "./helpers.ts";

const TOOLS = [
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
];

describe("MCP over Streamable HTTP at the daemon's /mcp", () => {
  const home = tempHome("tm-mcp-http-");
  let daemon: Awaited<ReturnType<typeof startTestDaemon>>;
  let token: string;
  let repo: string;
  let agent: Awaited<ReturnType<typeof rootsClient>>;

  beforeAll(async () => {
    daemon = await startTestDaemon(home.home);
    token = readLocalToken(home.home) ?? "";
    repo = gitRepo(home.home, "checkout", "git@github.com:Acme/API.git");
    agent = await rootsClient(httpTransport(daemon.url, { authorization: `Bearer ${token}` }), [repo]);
  }, 60_000);
  afterAll(async () => {
    // Closed while the agent is still attached (its event stream open): the daemon must not wait on it.
    await daemon?.close();
    await agent?.client.close();
    home.cleanup();
  });

  it(`passes the official MCP conformance scenarios ${SCENARIOS.join(", ")}`, async () => {
    await expectConformance(daemon.url, { "x-tribal-token": token });
  }, 90_000);

  it("serves the same ten tools as the stdio server", async () => {
    const { tools } = await agent.client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(TOOLS);
  });

  it("stores the project of the client's root: its git remote, normalised", async () => {
    const r = await callTool(agent.client, "tribal_remember", {
      content: "The API deploys with blue-green releases",
    });
    expect(r.isError).toBeFalsy();
    expect(r.structuredContent.project).toBe("github.com/acme/api");
    const stored = await daemon.api.get(`/v1/memories/${r.structuredContent.memory_id}`);
    expect(stored.body.project).toBe("github.com/acme/api");
    expect(stored.body.source_instance).toBe("claude-code");
    expect(agent.asked()).toBe(1);
  });

  it("recalls this project's memories first, only them with scope project, by score with scope all", async () => {
    // Another project's memory matches the query better than this project's.
    const other = await daemon.api.post("/v1/remember", {
      content: "deploy pipeline: the deploy pipeline runs the deploy pipeline checks",
      project: "github.com/acme/web",
    });
    const ours = await daemon.api.post("/v1/remember", {
      content: "Friday deploy freeze for the pipeline",
      project: "github.com/acme/api",
    });
    const ids = (r: Awaited<ReturnType<typeof callTool>>) =>
      (r.structuredContent.results as { memory_id: string }[]).map((x) => x.memory_id);

    const all = await callTool(agent.client, "tribal_recall", {
      query: "deploy pipeline",
      limit: 1,
      scope: "all",
    });
    expect(ids(all)).toEqual([other.body.memory_id]);

    const preferred = await callTool(agent.client, "tribal_recall", { query: "deploy pipeline", limit: 5 });
    const order = ids(preferred);
    expect(order[0]).toBe(ours.body.memory_id);
    expect(order).toContain(other.body.memory_id);
    const projects = (preferred.structuredContent.results as { project?: string }[]).map((x) => x.project);
    const firstOther = projects.findIndex((p) => p !== "github.com/acme/api");
    expect(projects.slice(firstOther).every((p) => p !== "github.com/acme/api")).toBe(true);

    const only = await callTool(agent.client, "tribal_recall", {
      query: "deploy pipeline",
      scope: "project",
    });
    expect(ids(only)).toContain(ours.body.memory_id);
    expect(ids(only)).not.toContain(other.body.memory_id);
  });

  it("asks for the roots again after roots/list_changed: a folder without git is its name", async () => {
    const plain = join(home.home, "Notes");
    mkdirSync(plain);
    await agent.changeRoots([plain]);
    const r = await callTool(agent.client, "tribal_remember", { content: "Notes live in the wiki export" });
    expect(r.structuredContent.project).toBe("notes");
    expect(agent.asked()).toBe(2);
    await agent.changeRoots([repo]);
  });

  it("over HTTP a file path is refused: it would name the daemon's files, not the agent's", async () => {
    const r = await callTool(agent.client, "tribal_export", { output_path: join(home.home, "out.json") });
    expect(r.isError).toBe(true);
    expect(r.structuredContent.error.code).toBe("LOCAL_FILES_UNAVAILABLE");
    const inline = await callTool(agent.client, "tribal_export", {});
    expect(inline.structuredContent.memory_count).toBeGreaterThan(0);
  });

  it("refuses a call without the local token, a foreign Host and a foreign Origin", async () => {
    const none = await rawInitialize(daemon.url, {});
    expect(none.status).toBe(401);
    expect(none.body.error.code).toBe("LOCAL_TOKEN_REQUIRED");
    const auth = { authorization: `Bearer ${token}` };
    const rebound = await rawInitialize(daemon.url, { ...auth, host: "evil.example.com" });
    expect(rebound.status).toBe(421);
    const page = await rawInitialize(daemon.url, { ...auth, origin: "https://evil.example.com" });
    expect(page.status).toBe(403);
    expect(page.body.error.code).toBe("ORIGIN_NOT_ALLOWED");
    const ok = await rawInitialize(daemon.url, auth);
    expect(ok.status).toBe(200);
    expect(ok.sessionId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("answers 404 to an unknown session, so the client starts a new one", async () => {
    const res = await fetch(`${daemon.url}/mcp`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        authorization: `Bearer ${token}`,
        "mcp-session-id": "00000000-0000-4000-8000-000000000000",
      },
      body: JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/list" }),
    });
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { code: number } }).error.code).toBe(-32001);
  });
});

describe("MCP over Streamable HTTP at the relay's /mcp, per API key", () => {
  let url: string;
  let writer: string;
  let reader: string;
  let otherKey: string;
  const clients: Client[] = [];
  const home = tempHome("tm-mcp-relay-");

  useTestRelay(async (db, relay) => {
    url = relay.url;
    const ws = await workspaceKey(db, "mcp-relay", ["write"]);
    writer = ws.key;
    const { createApiKey } = await import("@tribalmemory/sync-server");
    reader = (await createApiKey(db, ws.workspaceId, { name: "reader", scopes: ["read"] })).key;
    otherKey = (await workspaceKey(db, "mcp-other", ["write"])).key;
  });
  afterAll(async () => {
    for (const c of clients) await c.close();
    home.cleanup();
  });

  it(`passes the official MCP conformance scenarios ${SCENARIOS.join(", ")} with a workspace key`, async () => {
    await expectConformance(url, { authorization: `Bearer ${writer}` });
  }, 90_000);

  it("acts on the key's workspace; a project is the root's folder name (the relay cannot read the agent's disk)", async () => {
    const repo = gitRepo(home.home, "Billing-Service", "https://github.com/acme/billing.git");
    const agent = await rootsClient(
      httpTransport(url, { authorization: `Bearer ${writer}` }),
      [repo],
      "cloud-agent",
    );
    clients.push(agent.client);
    const { tools } = await agent.client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(TOOLS);
    const r = await callTool(agent.client, "tribal_remember", {
      content: "Invoices are sent on the first business day",
    });
    expect(r.structuredContent.project).toBe("billing-service");
    const mine = apiClient(url);
    const own = await mine.post(
      "/v1/recall",
      { query: "invoices business day" },
      { authorization: `Bearer ${writer}` },
    );
    expect(own.body.results[0].memory.project).toBe("billing-service");
    await mine.post(
      "/v1/remember",
      { content: "Invoices for the web shop go out weekly", project: "web-shop" },
      { authorization: `Bearer ${writer}` },
    );
    const scoped = await mine.post(
      "/v1/recall",
      { query: "invoices", project: "Billing-Service", scope: "project" },
      { authorization: `Bearer ${writer}` },
    );
    expect(scoped.body.results.map((x: { memory: { project: string } }) => x.memory.project)).toEqual([
      "billing-service",
    ]);
    const foreign = await mine.post(
      "/v1/recall",
      { query: "invoices business day" },
      { authorization: `Bearer ${otherKey}` },
    );
    expect(foreign.body.results).toEqual([]);
  });

  it("a read-only key recalls but cannot remember; no key is 401; a session is its key's alone", async () => {
    const agent = await rootsClient(httpTransport(url, { authorization: `Bearer ${reader}` }), [], "reader");
    clients.push(agent.client);
    const refused = await callTool(agent.client, "tribal_remember", { content: "should not land" });
    expect(refused.isError).toBe(true);
    expect(refused.structuredContent.error.code).toBe("FORBIDDEN");
    const recall = await callTool(agent.client, "tribal_recall", { query: "invoices" });
    expect(recall.isError).toBeFalsy();

    expect((await rawInitialize(url, {})).status).toBe(401);
    const opened = await rawInitialize(url, { authorization: `Bearer ${writer}` });
    const res = await fetch(`${url}/mcp`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        authorization: `Bearer ${otherKey}`,
        "mcp-session-id": opened.sessionId ?? "",
      },
      body: JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/list" }),
    });
    expect(res.status).toBe(404);
    const page = await rawInitialize(url, {
      authorization: `Bearer ${writer}`,
      origin: "https://evil.example.com",
    });
    expect(page.status).toBe(403);
  });
});
