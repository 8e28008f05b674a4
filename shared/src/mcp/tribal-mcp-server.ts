import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { clientProject, type ProjectRules } from "./project-roots.ts";
import { type LocalFiles, registerTribalTools, type TribalApi } from "./tribal-tools.ts";

export interface TribalMcpOptions {
  api: TribalApi;
  version: string;
  /** TRIBAL_MEMORY_INSTANCE_ID: names the agent on its memories; else the client's name. */
  instanceId?: string;
  /** Files on the agent's machine (stdio only). */
  files: LocalFiles | null;
  projects: ProjectRules;
}

const INSTRUCTIONS =
  "TribalMemory is memory shared by every agent on this machine and team. Call tribal_recall before answering questions about past decisions, preferences or project facts; call tribal_remember when the user states a durable fact, preference or decision. Memories are kept per project (from your workspace roots); recall shows this project's first.";

/**
 * One MCP server object with TribalMemory's ten tools, whatever carries it: stdio in
 * `tribalmemory-mcp`, Streamable HTTP at `/mcp` on the daemon and the relay (mcp-http.ts).
 */
export function createTribalMcpServer(options: TribalMcpOptions): McpServer {
  const server = new McpServer(
    { name: "tribal-memory", version: options.version },
    { instructions: INSTRUCTIONS },
  );
  const instance = () => {
    const fromEnv = options.instanceId?.trim();
    if (fromEnv) return fromEnv.slice(0, 200);
    const client = server.server.getClientVersion()?.name?.trim();
    return (client || "mcp").slice(0, 200);
  };
  registerTribalTools(server, {
    api: options.api,
    instance,
    project: clientProject(server.server, options.projects),
    files: options.files,
  });
  return server;
}
