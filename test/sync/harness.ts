import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { api } from "@tribalmemory/sync-server/testing";

/**
 * Real processes on loopback for the sync tests and the sync benchmark: a relay
 * (`tribalmemory relay start`) and daemons (`tribalmemoryd`) with sync enabled.
 */
const CLI = fileURLToPath(new URL("../../cli/src/tribalmemory.ts", import.meta.url));
const DAEMON = fileURLToPath(new URL("../../cli/src/tribalmemoryd.ts", import.meta.url));

export { api };

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

export function tempDir(prefix: string): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** Where relays keep data: the test cluster when one is running, else a PGlite folder. */
export interface RelayDb {
  args: string[];
}

export function relayDb(dataDir: string): RelayDb {
  const app = process.env.TEST_APP_DATABASE_URL;
  const admin = process.env.TEST_DATABASE_URL;
  return app
    ? { args: ["--database-url", app, "--admin-database-url", admin ?? app] }
    : { args: ["--data-dir", dataDir] };
}

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | null | undefined | false>,
  timeoutMs = 20_000,
  everyMs = 25,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ""}`);
    await sleep(everyMs);
  }
}

function collect(proc: ChildProcess): { text: () => string } {
  let out = "";
  proc.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  proc.stderr?.on("data", (d: Buffer) => {
    out += d.toString();
    if (out.length > 200_000) out = out.slice(-100_000);
  });
  return { text: () => out };
}

export async function relayInit(db: RelayDb): Promise<{ workspaceId: string; apiKey: string }> {
  const proc = spawn(process.execPath, [CLI, "relay", "init", ...db.args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const log = collect(proc);
  const code = await new Promise<number>((r) => proc.on("exit", (c) => r(c ?? 1)));
  if (code !== 0) throw new Error(`relay init failed: ${log.text()}`);
  const json = JSON.parse(log.text().slice(0, log.text().indexOf("}") + 1)) as {
    workspace_id: string;
    api_key: string;
  };
  return { workspaceId: json.workspace_id, apiKey: json.api_key };
}

/** `tribalmemory relay plan`: a benchmark's workspace on a plan without the Free limits. */
export async function relayPlan(db: RelayDb, workspaceId: string, plan: string): Promise<void> {
  const proc = spawn(process.execPath, [CLI, "relay", "plan", workspaceId, plan, ...db.args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const log = collect(proc);
  const code = await new Promise<number>((r) => proc.on("exit", (c) => r(c ?? 1)));
  if (code !== 0) throw new Error(`relay plan failed: ${log.text()}`);
}

export interface RelayProcess {
  url: string;
  port: number;
  proc: ChildProcess;
  log: () => string;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export async function startRelayProcess(db: RelayDb, port: number): Promise<RelayProcess> {
  const proc = spawn(
    process.execPath,
    [
      CLI,
      "relay",
      "start",
      ...db.args,
      "--port",
      String(port),
      "--host",
      "127.0.0.1",
      "--embedding",
      "hashing",
    ],
    {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, TRIBAL_MEMORY_LOG_LEVEL: "warn" },
    },
  );
  const log = collect(proc);
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    "relay to listen",
    async () => {
      if (proc.exitCode !== null) throw new Error(`relay exited: ${log.text()}`);
      return log.text().includes(`"port":${port}`);
    },
    60_000,
  );
  return {
    url,
    port,
    proc,
    log: log.text,
    kill: (signal = "SIGTERM") => stop(proc, signal),
  };
}

export interface DaemonProcess {
  url: string;
  home: string;
  proc: ChildProcess;
  log: () => string;
  call: <T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
  ) => Promise<{ status: number; body: T }>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export async function startDaemonProcess(options: {
  home: string;
  relayUrl: string;
  apiKey: string;
  instance: string;
  /** More environment for the daemon (e.g. TRIBAL_MEMORY_SYNC_SNAPSHOT=0 to bootstrap by replay). */
  env?: Record<string, string>;
}): Promise<DaemonProcess> {
  const port = await freePort();
  const proc = spawn(
    process.execPath,
    [DAEMON, "--port", String(port), "--data-dir", join(options.home, "data"), "--embedding", "hashing"],
    {
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        ...process.env,
        TRIBAL_MEMORY_HOME: options.home,
        TRIBAL_MEMORY_CONFIG: join(options.home, "config.yaml"),
        TRIBAL_MEMORY_CLOUD_URL: options.relayUrl,
        TRIBAL_MEMORY_API_KEY: options.apiKey,
        TRIBAL_MEMORY_INSTANCE_ID: options.instance,
        TRIBAL_MEMORY_LOG_LEVEL: "warn",
        // Tests restart relays: reconnect within a second instead of the default 30 s ceiling.
        TRIBAL_MEMORY_SYNC_BACKOFF_MAX_MS: "800",
        ...options.env,
      },
    },
  );
  const log = collect(proc);
  const url = `http://127.0.0.1:${port}`;
  const call = <T>(method: string, path: string, body?: unknown) => api<T>(url, method, path, body);
  await waitFor(
    "daemon health",
    async () => {
      if (proc.exitCode !== null) throw new Error(`daemon exited: ${log.text()}`);
      return (await call("GET", "/v1/health")).status === 200;
    },
    30_000,
  );
  return {
    url,
    home: options.home,
    proc,
    log: log.text,
    call,
    kill: (signal = "SIGTERM") => stop(proc, signal),
  };
}

async function stop(proc: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  proc.kill(signal);
  const timer = setTimeout(() => proc.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}

/** Every daemon is live with an empty outbox: what it wrote has reached the relay. */
export async function allSynced(daemons: DaemonProcess[]): Promise<boolean> {
  for (const d of daemons) {
    const s = (await d.call<{ state: string; outbox: number }>("GET", "/v1/sync/status")).body;
    if (s.state !== "live" || s.outbox !== 0) return false;
  }
  return true;
}
