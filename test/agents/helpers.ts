import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type RunningDaemon, startDaemon } from "@tribalmemory/daemon/daemon";
import { loadDaemonConfig } from "@tribalmemory/shared/config/config";
import { request } from "undici";

/** A temporary HOME holding the TribalMemory home and the agents' transcript folders. */
export function tempHome(prefix = "tm-agents-"): {
  home: string;
  tribalHome: string;
  env: NodeJS.ProcessEnv;
  cleanup(): void;
} {
  const home = mkdtempSync(join(tmpdir(), prefix));
  const tribalHome = join(home, ".tribal-memory");
  mkdirSync(tribalHome, { recursive: true });
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: home,
    TRIBAL_MEMORY_HOME: tribalHome,
    TRIBAL_MEMORY_LOG_LEVEL: "warn",
    TRIBAL_MEMORY_EMBEDDING: "hashing",
  };
  for (const k of [
    "TRIBAL_MEMORY_URL",
    "TRIBAL_MEMORY_CLOUD_URL",
    "TRIBAL_MEMORY_API_KEY",
    "TRIBAL_MEMORY_INSTANCE_ID",
  ])
    delete env[k];
  return { home, tribalHome, env, cleanup: () => rmSync(home, { recursive: true, force: true }) };
}

/** A daemon in this process on a free port, hashing embedder, watching the temp HOME's folders. */
export async function startTestDaemon(env: NodeJS.ProcessEnv, watch = true): Promise<RunningDaemon> {
  process.env.TRIBAL_MEMORY_LOG_LEVEL = "warn";
  const config = loadDaemonConfig(
    { port: 0, embedding: "hashing" },
    { ...env, TRIBAL_MEMORY_WATCH_SESSIONS: watch ? "1" : "0" },
  );
  const daemon = await startDaemon(config);
  await daemon.embedderReady;
  return daemon;
}

export async function api<T = Record<string, unknown>>(
  base: string,
  method: "GET" | "POST",
  path: string,
  body?: unknown,
): Promise<{ status: number; body: T }> {
  const res = await request(`${base}${path}`, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.body.text();
  return { status: res.statusCode, body: (text ? JSON.parse(text) : undefined) as T };
}

export async function waitFor<T>(
  fn: () => Promise<T | null | undefined | false>,
  timeoutMs = 10_000,
  stepMs = 25,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
