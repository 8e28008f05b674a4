import { spawn } from "node:child_process";
import { mkdirSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { DaemonConfig } from "@tribalmemory/shared/config/config";
import { runtimeModulePath } from "@tribalmemory/shared/config/install-layout";
import { daemonUrl, TribalClient } from "../client.ts";

/** The daemon's entry point: what services and `tribalmemory-mcp` launch. */
export const DAEMON_ENTRY = runtimeModulePath(new URL("../tribalmemoryd.ts", import.meta.url));

/** `home`: whose local token to send, for a daemon that requires it on every route. */
export async function daemonHealth(url: string, home?: string): Promise<Record<string, unknown> | null> {
  try {
    return await new TribalClient(url, null, { home }).call<Record<string, unknown>>("GET", "/v1/health");
  } catch {
    return null;
  }
}

/**
 * Start tribalmemoryd in the background and wait until it answers. Never two: a second daemon
 * on the same data folder exits with DATA_DIR_LOCKED (status 3), and then the one that holds
 * the lock is the one we wait for — so two MCP servers starting at once end up sharing one.
 */
export async function spawnDaemon(
  config: DaemonConfig,
  options: { port?: number; configPath?: string; embedding?: string; timeoutMs?: number } = {},
): Promise<{ url: string; pid: number; logPath: string }> {
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const logPath = join(config.dataDir, "daemon.log");
  const logFd = openSync(logPath, "a", 0o600);
  const args = [DAEMON_ENTRY, "--data-dir", config.dataDir];
  if (options.configPath) args.push("--config", options.configPath);
  if (options.port !== undefined) args.push("--port", String(options.port));
  if (options.embedding) args.push("--embedding", options.embedding);
  const child = spawn(process.execPath, args, { detached: true, stdio: ["ignore", logFd, logFd] });
  child.unref();
  const deadline = Date.now() + (options.timeoutMs ?? 20_000);
  let exitCode: number | null = null;
  child.once("exit", (code) => {
    exitCode = code;
  });
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    const url = options.port !== undefined ? `http://127.0.0.1:${options.port}` : daemonUrl(config);
    const h = await daemonHealth(url, config.home);
    if (h) return { url, pid: Number(h.pid), logPath };
    // Exit 3: another daemon holds the folder (it is starting too): keep waiting for it.
    if (exitCode !== null && exitCode !== 3) break;
  }
  throw new Error(`tribalmemoryd did not start (see ${logPath}):\n${tail(logPath)}`);
}

function tail(path: string): string {
  try {
    return readFileSync(path, "utf8").split("\n").slice(-10).join("\n");
  } catch {
    return "";
  }
}
