import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { TRIBAL_MEMORY_VERSION } from "@tribalmemory/shared/config/paths";
import { DaemonConnection } from "./connection.ts";
import { registerTribalTools } from "./tools.ts";

/**
 * The `tribalmemory-mcp` server: TribalMemory's tools over MCP, as a thin client of the local
 * daemon (started when needed) or of the relay (TRIBAL_MEMORY_CLOUD_URL + TRIBAL_MEMORY_API_KEY).
 */
export function createTribalMcpServer(env: NodeJS.ProcessEnv = process.env): {
  server: McpServer;
  connection: DaemonConnection;
} {
  const server = new McpServer(
    { name: "tribal-memory", version: TRIBAL_MEMORY_VERSION },
    {
      instructions:
        "TribalMemory is memory shared by every agent on this machine and team. Call tribal_recall before answering questions about past decisions, preferences or project facts; call tribal_remember when the user states a durable fact, preference or decision.",
    },
  );
  const connection = new DaemonConnection(env);
  const instance = () => {
    const fromEnv = env.TRIBAL_MEMORY_INSTANCE_ID?.trim();
    if (fromEnv) return fromEnv.slice(0, 200);
    const client = server.server.getClientVersion()?.name?.trim();
    return (client || "mcp").slice(0, 200);
  };
  registerTribalTools(server, { connection, instance });
  return { server, connection };
}
