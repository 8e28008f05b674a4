import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type RunningDaemon, startDaemon } from "@tribalmemory/daemon/daemon";
import {
  type ConfigOverrides,
  type DaemonConfig,
  loadDaemonConfig,
} from "@tribalmemory/shared/config/config";
import { readLocalToken } from "@tribalmemory/shared/config/local-token";
import pino from "pino";
import { request } from "undici";

export const CLI_DIR = fileURLToPath(new URL("../../cli/src/", import.meta.url));

/** A temporary TRIBAL_MEMORY_HOME, removed by `cleanup`. */
export function tempHome(prefix = "tm-test-"): { home: string; cleanup: () => void } {
  const home = mkdtempSync(join(tmpdir(), prefix));
  return { home, cleanup: () => rmSync(home, { recursive: true, force: true }) };
}

/** A daemon in this process on an ephemeral loopback port. */
export async function startTestDaemon(
  home: string,
  overrides: ConfigOverrides = {},
  /** A whole embedding section (a bench's `--config` or `--model-dir`), in place of `overrides.embedding`. */
  embedding?: DaemonConfig["embedding"],
): Promise<RunningDaemon & { api: ApiClient }> {
  const config = loadDaemonConfig(
    { port: 0, embedding: "hashing", ...overrides },
    { TRIBAL_MEMORY_HOME: home },
  );
  const daemon = await startDaemon(embedding ? { ...config, embedding } : config, {
    logger: pino({ level: "silent" }),
  });
  await daemon.embedderReady;
  return Object.assign(daemon, { api: apiClient(daemon.url, readLocalToken(home)) });
}

export interface ApiResponse<T = any> {
  status: number;
  body: T;
}

export interface ApiClient {
  get<T = any>(path: string): Promise<ApiResponse<T>>;
  post<T = any>(path: string, body?: unknown, headers?: Record<string, string>): Promise<ApiResponse<T>>;
  del<T = any>(path: string): Promise<ApiResponse<T>>;
  raw<T = any>(
    method: "POST" | "GET",
    path: string,
    body: string | Buffer,
    contentType: string,
  ): Promise<ApiResponse<T>>;
  /** `POST /v1/import` of these entries as JSONL. */
  importJsonl<T = Record<string, unknown>>(entries: unknown[]): Promise<ApiResponse<T>>;
}

/** `token`: the daemon's local token, sent on every call (export and import need it). */
export function apiClient(url: string, token: string | null = null): ApiClient {
  const call = async (
    method: "GET" | "POST" | "DELETE",
    path: string,
    body?: string | Buffer,
    headers: Record<string, string> = {},
  ) => {
    const res = await request(`${url}${path}`, {
      method,
      body,
      headers: { ...(token ? { "x-tribal-token": token } : {}), ...headers },
    });
    const text = await res.body.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // keep text (JSONL export)
    }
    return { status: res.statusCode, body: parsed as any };
  };
  return {
    get: (path) => call("GET", path),
    post: (path, body, headers = {}) =>
      call("POST", path, body === undefined ? undefined : JSON.stringify(body), {
        "content-type": "application/json",
        ...headers,
      }),
    del: (path) => call("DELETE", path),
    raw: (method, path, body, contentType) => call(method, path, body, { "content-type": contentType }),
    importJsonl: (entries) =>
      call("POST", "/v1/import", entries.map((e) => JSON.stringify(e)).join("\n"), {
        "content-type": "application/x-ndjson",
      }),
  };
}

/** `tribalmemoryd` as a real child process (crash and lock tests). */
export async function spawnDaemon(
  home: string,
  args: string[] = [],
  env: Record<string, string> = {},
): Promise<{ child: ChildProcess; url: string; stderr: () => string }> {
  const child = spawn(
    process.execPath,
    [join(CLI_DIR, "tribalmemoryd.ts"), "--port", "0", "--embedding", "hashing", ...args],
    {
      env: { ...process.env, TRIBAL_MEMORY_HOME: home, ...env },
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  let err = "";
  child.stderr?.on("data", (d) => (err += d));
  const info = join(home, "data", "daemon.json");
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`daemon exited ${child.exitCode}: ${err}`);
    if (existsSync(info)) {
      try {
        const { url, pid } = JSON.parse(readFileSync(info, "utf8")) as { url: string; pid: number };
        if (pid === child.pid) return { child, url, stderr: () => err };
      } catch {
        // being written
      }
    }
    if (Date.now() > deadline) throw new Error(`daemon did not start: ${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export function runCli(
  home: string,
  args: string[],
  input?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(CLI_DIR, "tribalmemory.ts"), ...args], {
      env: { ...process.env, TRIBAL_MEMORY_HOME: home },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.stdin.end(input ?? "");
    child.on("exit", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}
