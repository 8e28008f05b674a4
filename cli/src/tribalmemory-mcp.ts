import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { createTribalMcpServer } from "./mcp/server.ts";

/** `tribalmemory-mcp`: the MCP server on stdio. stdout carries the protocol; logs go to stderr. */
const { server, connection } = createTribalMcpServer(process.env);
await server.connect(new StdioServerTransport());
process.stderr.write(`tribalmemory-mcp: serving ${connection.target.kind} at ${connection.url}\n`);
const stop = () => {
  void server.close().finally(() => process.exit(0));
};
process.stdin.once("end", stop);
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
