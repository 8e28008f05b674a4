import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import Fastify, { type FastifyInstance } from "fastify";
import { afterEach, describe, expect, it } from "vitest";
import { registerMcpRoute } from "./mcp-http.ts";

/** A bare Fastify app with the /mcp route; the caller is whoever `x-owner` names. */
async function serve(limits: {
  maxSessions: number;
  maxSessionsPerOwner?: number;
}): Promise<FastifyInstance> {
  const app = Fastify();
  registerMcpRoute(app, {
    ...limits,
    caller: (req) => ({
      owner: String(req.headers["x-owner"]),
      createServer: () => new McpServer({ name: "t", version: "1" }),
    }),
  });
  await app.listen({ port: 0, host: "127.0.0.1" });
  return app;
}

const base = (app: FastifyInstance) =>
  `http://127.0.0.1:${(app.server.address() as { port: number }).port}/mcp`;
const headers = (owner: string, session?: string) => ({
  "content-type": "application/json",
  accept: "application/json, text/event-stream",
  "x-owner": owner,
  ...(session ? { "mcp-session-id": session } : {}),
});

async function initialize(app: FastifyInstance, owner: string): Promise<string> {
  const res = await fetch(base(app), {
    method: "POST",
    headers: headers(owner),
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: owner, version: "1" } },
    }),
  });
  await res.text();
  expect(res.status).toBe(200);
  return res.headers.get("mcp-session-id") as string;
}

async function ping(app: FastifyInstance, owner: string, session: string): Promise<number> {
  const res = await fetch(base(app), {
    method: "POST",
    headers: headers(owner, session),
    body: JSON.stringify({ jsonrpc: "2.0", id: 2, method: "ping" }),
  });
  await res.text();
  return res.status;
}

describe("registerMcpRoute: sessions", () => {
  let app: FastifyInstance | undefined;
  afterEach(async () => {
    await app?.close();
  });

  it("keeps a session for its owner only, and evicts an owner's own oldest past its share", async () => {
    app = await serve({ maxSessions: 10, maxSessionsPerOwner: 2 });
    const other = await initialize(app, "b");
    const [first, second, third] = [
      await initialize(app, "a"),
      await initialize(app, "a"),
      await initialize(app, "a"),
    ];
    expect(await ping(app, "b", other)).toBe(200);
    expect(await ping(app, "a", other)).toBe(404);
    expect(await ping(app, "a", first)).toBe(404);
    expect(await ping(app, "a", second)).toBe(200);
    expect(await ping(app, "a", third)).toBe(200);
  });

  it("past the total, the least recently used session goes", async () => {
    app = await serve({ maxSessions: 2 });
    const one = await initialize(app, "a");
    const two = await initialize(app, "b");
    expect(await ping(app, "a", one)).toBe(200); // now two is the least recently used
    await initialize(app, "c");
    expect(await ping(app, "b", two)).toBe(404);
    expect(await ping(app, "a", one)).toBe(200);
  });

  it("asks for initialize first when a request has no session", async () => {
    app = await serve({ maxSessions: 2 });
    const res = await fetch(base(app), {
      method: "POST",
      headers: headers("a"),
      body: JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/list" }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/initialize first/);
  });
});
