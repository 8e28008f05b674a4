/**
 * The relay as an operator runs it: the real `tribalmemory` CLI (or a script around it) as a
 * child process, a free port, and a fresh database on the CI PostgreSQL cluster
 * (scripts/with-postgres.sh) for tests that migrate, so they never share a schema.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";

export const CLI = fileURLToPath(new URL("../../cli/src/tribalmemory.ts", import.meta.url));
const PSQL = `${process.env.PG_BIN ?? "/usr/lib/postgresql/15/bin"}/psql`;

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run a command to its end. */
export function runProcess(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d) => (stdout += d));
    p.stderr.on("data", (d) => (stderr += d));
    p.on("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * A long-running process; `started` resolves once it printed `relay start`'s JSON line (its
 * URL), or rejects with its stderr if it exits first.
 */
export function startProcess(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): { proc: ChildProcess; started: Promise<{ url: string; port: number }>; output: () => string } {
  const proc = spawn(cmd, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  proc.stderr?.on("data", (d) => (stderr += d));
  const started = new Promise<{ url: string; port: number }>((resolve, reject) => {
    proc.stdout?.on("data", (d) => {
      stdout += d;
      const line = stdout.split("\n").find((l) => l.startsWith('{"url"'));
      if (line) resolve(JSON.parse(line));
    });
    proc.on("exit", (code, signal) =>
      reject(new Error(`${cmd} exited (${code ?? signal}) before listening:\n${stdout}\n${stderr}`)),
    );
  });
  started.catch(() => undefined);
  return { proc, started, output: () => `${stdout}\n${stderr}` };
}

/** Resolves with the exit code (or signal) once the process has ended. */
export function exitOf(p: ChildProcess): Promise<number | string | null> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve(p.exitCode ?? p.signalCode);
  return new Promise((r) => p.once("exit", (code, signal) => r(code ?? signal)));
}

/** `psql` as the cluster's superuser: one script, errors stop it. */
export function psql(url: string, sql: string): string {
  return execFileSync(PSQL, ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", url, "-c", sql], {
    encoding: "utf8",
  });
}

/**
 * A new, empty database on the CI cluster (TEST_DATABASE_URL, a superuser; TEST_APP_DATABASE_URL's
 * role without BYPASSRLS); `vector` comes from template1. Null when no cluster is configured.
 */
export function freshDatabase(prefix: string): { ownerUrl: string; appUrl: string; drop(): void } | null {
  const owner = process.env.TEST_DATABASE_URL;
  const app = process.env.TEST_APP_DATABASE_URL;
  if (!owner || !app) return null;
  const name = `${prefix}_${randomBytes(4).toString("hex")}`;
  psql(owner, `CREATE DATABASE ${name} TEMPLATE template1`);
  const rename = (url: string) => {
    const u = new URL(url);
    u.pathname = `/${name}`;
    return u.toString();
  };
  return {
    ownerUrl: rename(owner),
    appUrl: rename(app),
    drop: () => psql(owner, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}
