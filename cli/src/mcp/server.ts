import { closeSync, createReadStream, openSync, readFileSync, readSync, rmSync } from "node:fs";
import { open, rename } from "node:fs/promises";
import { resolve } from "node:path";
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { TRIBAL_MEMORY_VERSION } from "@tribalmemory/shared/config/paths";
import { gitRemoteOf } from "@tribalmemory/shared/mcp/git-remote";
import { folderProject, normaliseGitRemote } from "@tribalmemory/shared/mcp/project-roots";
import { createTribalMcpServer as createServer } from "@tribalmemory/shared/mcp/tribal-mcp-server";
import { DaemonConnection } from "./connection.ts";

/**
 * The `tribalmemory-mcp` server: TribalMemory's tools (shared/src/mcp) over stdio, as a thin
 * client of the local daemon (started when needed) or of the relay (TRIBAL_MEMORY_CLOUD_URL +
 * TRIBAL_MEMORY_API_KEY). It runs on the agent's machine, so it reads and writes the files the
 * agent names, and a client without roots gets the project of the folder it was started in.
 */
export function createTribalMcpServer(
  env: NodeJS.ProcessEnv = process.env,
  cwd: string = process.cwd(),
): { server: McpServer; connection: DaemonConnection } {
  const connection = new DaemonConnection(env);
  const server = createServer({
    api: connection,
    version: TRIBAL_MEMORY_VERSION,
    instanceId: env.TRIBAL_MEMORY_INSTANCE_ID,
    files: {
      read: (path) => readFileSync(resolve(cwd, path), "utf8"),
      head: (path, bytes) => firstBytes(resolve(cwd, path), bytes),
      stream: (path) => createReadStream(resolve(cwd, path)),
      write: (path, chunks) => writeFileAsItComes(resolve(cwd, path), chunks),
    },
    projects: {
      gitRemoteOf,
      fallback: () => {
        const remote = gitRemoteOf(cwd);
        return (remote ? normaliseGitRemote(remote) : null) ?? folderProject(cwd);
      },
    },
  });
  return { server, connection };
}

/**
 * The chunks written in 1 MiB writes to a file beside `path` (mode 600), renamed to it once
 * all are written: a failed export (a dropped connection) leaves no half bundle under the name.
 */
async function writeFileAsItComes(path: string, chunks: AsyncIterable<string>): Promise<string> {
  const partial = `${path}.${process.pid}.partial`;
  const file = await open(partial, "w", 0o600);
  try {
    let pending = "";
    for await (const chunk of chunks) {
      pending += chunk;
      if (pending.length >= 1 << 20) {
        await file.write(pending);
        pending = "";
      }
    }
    await file.write(pending);
    await file.close();
    await rename(partial, path);
    return path;
  } catch (err) {
    await file.close().catch(() => undefined);
    rmSync(partial, { force: true });
    throw err;
  }
}

/** A file's first bytes, as text. */
function firstBytes(path: string, bytes: number): string {
  const fd = openSync(path, "r");
  try {
    const buf = Buffer.alloc(bytes);
    return buf.subarray(0, readSync(fd, buf, 0, bytes, 0)).toString("utf8");
  } finally {
    closeSync(fd);
  }
}
