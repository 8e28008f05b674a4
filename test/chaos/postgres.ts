/**
 * A throwaway PostgreSQL 15 + pgvector cluster that the chaos run owns, so it can restart it
 * (`pg_ctl restart`) as one of its faults. Same setup as scripts/with-postgres.sh (superuser
 * URL, an app role without BYPASSRLS, `vector` in template1) except `synchronous_commit` stays
 * on: with it off, an immediate stop loses commits the relay already acknowledged, which
 * would be the test's fault, not the product's. fsync stays off (the kernel survives a PG crash).
 */
import { execFile, execFileSync, spawnSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort } from "../sync/harness.ts";

const PG_BIN = process.env.PG_BIN ?? "/usr/lib/postgresql/15/bin";

export function postgresAvailable(): string | null {
  if (!existsSync(join(PG_BIN, "pg_ctl")))
    return `${PG_BIN}/pg_ctl not found (bash scripts/install-postgres.sh)`;
  if (!existsSync("/usr/share/postgresql/15/extension/vector.control")) return "pgvector is not installed";
  return null;
}

export interface ChaosPostgres {
  port: number;
  adminUrl: string;
  appUrl: string;
  /** `fast` is a clean restart; `immediate` is a crash and WAL recovery. */
  restart(mode: "fast" | "immediate"): Promise<void>;
  /** A clean stop that leaves the server down (an outage) until `resume()`; the data stays. */
  halt(): Promise<void>;
  /** Start a halted server again, on the same port. */
  resume(): Promise<void>;
  stop(): void;
}

export async function startChaosPostgres(): Promise<ChaosPostgres> {
  const root = process.getuid?.() === 0;
  const asPg = (cmd: string, args: string[]) => {
    const r = root
      ? spawnSync("runuser", ["-u", "postgres", "--", cmd, ...args], { encoding: "utf8" })
      : spawnSync(cmd, args, { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed: ${r.stderr}${r.stdout}`);
    return r.stdout;
  };
  const dir = mkdtempSync(join(tmpdir(), "tm-chaos-pg-"));
  const data = join(dir, "data");
  const sock = join(dir, "sock");
  mkdirSync(sock);
  chmodSync(dir, 0o755);
  if (root) {
    const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim());
    const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
    chownSync(dir, uid, gid);
    chownSync(sock, uid, gid);
  }
  asPg(join(PG_BIN, "initdb"), [
    "-D",
    data,
    "--auth=trust",
    "--username=postgres",
    "--encoding=UTF8",
    "--locale=C.UTF-8",
    "--no-sync",
  ]);
  const serverOptions = (p: number) =>
    `-p ${p} -k ${sock} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=300`;
  let port = 0;
  for (let attempt = 0; attempt < 6 && !port; attempt++) {
    const p = await freePort();
    try {
      asPg(join(PG_BIN, "pg_ctl"), [
        "-D",
        data,
        "-l",
        join(dir, "log"),
        "-w",
        "-t",
        "60",
        "-o",
        serverOptions(p),
        "start",
      ]);
      port = p;
    } catch (err) {
      if (attempt === 5) throw err;
    }
  }
  const psql = (db: string, sql: string) =>
    execFileSync(
      join(PG_BIN, "psql"),
      [
        "-X",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "-h",
        "127.0.0.1",
        "-p",
        String(port),
        "-U",
        "postgres",
        "-d",
        db,
      ],
      {
        input: sql,
        encoding: "utf8",
      },
    );
  psql("template1", "CREATE EXTENSION IF NOT EXISTS vector;");
  psql(
    "postgres",
    `CREATE ROLE tribal_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
     CREATE DATABASE tribal_test TEMPLATE template1;
     GRANT CONNECT, CREATE, TEMPORARY ON DATABASE tribal_test TO tribal_app;`,
  );
  psql("tribal_test", "GRANT USAGE, CREATE ON SCHEMA public TO tribal_app;");
  let stopped = false;
  // Async: the chaos run's proxies live in this process and must keep forwarding meanwhile.
  const pgCtl = async (args: string[]) => {
    const bin = join(PG_BIN, "pg_ctl");
    await promisify(execFile)(root ? "runuser" : bin, root ? ["-u", "postgres", "--", bin, ...args] : args);
  };
  return {
    port,
    adminUrl: `postgres://postgres@127.0.0.1:${port}/tribal_test`,
    appUrl: `postgres://tribal_app@127.0.0.1:${port}/tribal_test`,
    async restart(mode) {
      await pgCtl(["-D", data, "-l", join(dir, "log"), "-m", mode, "-w", "-t", "60", "restart"]);
    },
    async halt() {
      await pgCtl(["-D", data, "-m", "fast", "-w", "-t", "60", "stop"]);
    },
    async resume() {
      await pgCtl(["-D", data, "-l", join(dir, "log"), "-w", "-t", "60", "-o", serverOptions(port), "start"]);
    },
    stop() {
      if (stopped) return;
      stopped = true;
      try {
        asPg(join(PG_BIN, "pg_ctl"), ["-D", data, "-m", "immediate", "-w", "stop"]);
      } catch {
        // already down
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
