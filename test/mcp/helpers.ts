import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import { ListRootsRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { request } from "undici";

export type ToolResult = {
  isError?: boolean;
  content: { type: string; text: string }[];
  structuredContent: Record<string, any>;
};

/** A git repository in `parent/name` with `origin` at `remote` (real git, as an agent's checkout). */
export function gitRepo(parent: string, name: string, remote: string): string {
  const dir = join(parent, name);
  mkdirSync(dir, { recursive: true });
  execFileSync("git", ["init", "-q", dir]);
  execFileSync("git", ["-C", dir, "remote", "add", "origin", remote]);
  return dir;
}

/**
 * An MCP client that declares roots (as Claude Code and Codex do) and answers `roots/list`
 * with `roots.current`; `changeRoots` sends `notifications/roots/list_changed`.
 */
export async function rootsClient(
  transport: Transport,
  folders: string[],
  name = "claude-code",
): Promise<{ client: Client; changeRoots(folders: string[]): Promise<void>; asked: () => number }> {
  let roots = folders.map((f) => ({ uri: pathToFileURL(f).href }));
  let asked = 0;
  const client = new Client({ name, version: "1.0.0" }, { capabilities: { roots: { listChanged: true } } });
  client.setRequestHandler(ListRootsRequestSchema, async () => {
    asked++;
    return { roots };
  });
  await client.connect(transport);
  return {
    client,
    asked: () => asked,
    async changeRoots(next) {
      roots = next.map((f) => ({ uri: pathToFileURL(f).href }));
      await client.sendRootsListChanged();
    },
  };
}

export function httpTransport(url: string, headers: Record<string, string>): StreamableHTTPClientTransport {
  return new StreamableHTTPClientTransport(new URL(`${url}/mcp`), { requestInit: { headers } });
}

export const callTool = async (c: Client, name: string, args: Record<string, unknown> = {}) =>
  (await c.callTool({ name, arguments: args })) as ToolResult;

/** A raw initialize POST to /mcp with these headers (Host too: undici sends it as given). */
export async function rawInitialize(
  url: string,
  headers: Record<string, string>,
): Promise<{ status: number; body: any; sessionId: string | null }> {
  const res = await request(`${url}/mcp`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      ...headers,
    },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "1" } },
    }),
  });
  const text = await res.body.text();
  let body: any = text;
  try {
    body = JSON.parse(text);
  } catch {
    // an event stream
  }
  const sessionId = res.headers["mcp-session-id"];
  return { status: res.statusCode, body, sessionId: typeof sessionId === "string" ? sessionId : null };
}
