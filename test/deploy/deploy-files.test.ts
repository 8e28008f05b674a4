import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { MIGRATION_VERSIONS } from "@tribalmemory/sync-server/store/migrations";
import { parse as parseToml } from "smol-toml";
import { afterAll, describe, expect, it } from "vitest";
import {
  CLI,
  exitOf,
  freePort,
  freshDatabase,
  psql,
  runProcess,
  startProcess,
} from "../helpers/relay-process.ts";

/**
 * The deployment files are checked without a Docker engine: the compose file by
 * `docker-compose config` (Debian's package, installed by scripts/install-postgres.sh), the
 * Dockerfile by reading its stages, fly.toml and railway.json by parsing them; and the
 * container's entrypoint script is run for real against the CI PostgreSQL, with the repo's CLI.
 */
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), "tm-deploy-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A tool CI must have: missing in CI fails the test, missing on a laptop skips it. */
function requiredTool(name: string): string | null {
  const r = spawnSync("bash", ["-c", `command -v ${name}`], { encoding: "utf8" });
  const path = r.status === 0 ? r.stdout.trim() : null;
  if (!path && process.env.CI) {
    throw new Error(`${name} is missing on this CI machine: scripts/install-postgres.sh installs it`);
  }
  return path;
}

interface Instruction {
  op: string;
  args: string;
}
interface Stage {
  from: string;
  name: string | null;
  body: Instruction[];
}

/** Dockerfile instructions by stage: continuation lines joined, comments dropped, ARG defaults applied to FROM. */
function dockerfileStages(text: string): Stage[] {
  const logical = text
    .split("\n")
    .filter((l) => !/^\s*#/.test(l))
    .join("\n")
    .replace(/\\\n/g, " ")
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
  const args = new Map<string, string>();
  const stages: Stage[] = [];
  for (const line of logical) {
    const m = /^(\S+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const op = m[1].toUpperCase();
    const rest = m[2];
    if (op === "ARG" && stages.length === 0) {
      const [k, v] = rest.split("=");
      args.set(k, v ?? "");
    } else if (op === "FROM") {
      const f = /^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest);
      const image = (f?.[1] ?? rest).replace(/\$\{(\w+)\}/g, (_, k: string) => args.get(k) ?? "");
      stages.push({ from: image, name: f?.[2] ?? null, body: [] });
    } else {
      stages.at(-1)?.body.push({ op, args: rest });
    }
  }
  return stages;
}

describe("deployment files", () => {
  it("docker-compose config accepts the compose file: db (pgvector:pg16), a one-shot migrate, the relay; secrets must come from the environment", (ctx) => {
    const compose = requiredTool("docker-compose");
    if (!compose) return ctx.skip();
    const env = { ...process.env, POSTGRES_PASSWORD: "owner-secret", TRIBAL_APP_PASSWORD: "app-secret" };
    const services = spawnSync(compose, ["-f", join(ROOT, "docker-compose.yml"), "config", "--services"], {
      env,
      encoding: "utf8",
    });
    expect(services.status, services.stderr).toBe(0);
    expect(services.stdout.trim().split("\n").sort()).toEqual(["db", "migrate", "relay"]);
    const full = execFileSync(compose, ["-f", join(ROOT, "docker-compose.yml"), "config"], {
      env,
      encoding: "utf8",
    });
    expect(full).toContain("image: pgvector/pgvector:pg16");
    expect(full).toContain("condition: service_completed_successfully");
    // The relay holds only the app role's URL; the owner's password stays with migrate and db.
    const relay = full.slice(full.indexOf("\n  relay:"));
    expect(relay).toContain("TRIBAL_MEMORY_DATABASE_URL: postgres://tribal_app:app-secret@db:5432/tribal");
    expect(relay).not.toContain("owner-secret");

    const { POSTGRES_PASSWORD: _, ...withoutSecret } = env;
    const refused = spawnSync(compose, ["-f", join(ROOT, "docker-compose.yml"), "config"], {
      env: withoutSecret,
      encoding: "utf8",
    });
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toContain("set POSTGRES_PASSWORD");
  });

  it("the Dockerfile builds with a frozen lockfile and runs node:24-bookworm-slim as a non-root user with a health check, port 18800 and an executable entrypoint script", () => {
    const stages = dockerfileStages(readFileSync(join(ROOT, "Dockerfile"), "utf8"));
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const all = stages.flatMap((s) => s.body);
    expect(all.some((i) => i.op === "RUN" && /pnpm install --frozen-lockfile/.test(i.args))).toBe(true);
    expect(all.some((i) => i.op === "RUN" && /install --frozen-lockfile --prod/.test(i.args))).toBe(true);
    const final = stages[stages.length - 1];
    expect(final.from).toBe("node:24-bookworm-slim");
    const last = (op: string) => final.body.filter((i) => i.op === op).at(-1)?.args;
    const user = last("USER");
    expect(user).toBeDefined();
    expect(user).not.toMatch(/^(root|0)(:|$)/);
    expect(last("HEALTHCHECK")).toMatch(/CMD .*\/v1\/health/);
    expect(last("EXPOSE")?.split(/\s+/)).toContain("18800");
    const entrypoint = JSON.parse(last("ENTRYPOINT") ?? "null") as string[];
    expect(entrypoint).toEqual(["/app/deploy/entrypoint.sh"]);
    // The script the image runs is the repo's, copied in executable.
    const copy = final.body.find((i) => i.op === "COPY" && i.args.endsWith("./deploy/entrypoint.sh"));
    expect(copy?.args).toMatch(/^--chmod=755 deploy\/entrypoint\.sh /);
    expect(statSync(join(ROOT, "deploy/entrypoint.sh")).mode & 0o111).toBe(0o111);
  });

  it("fly.toml and railway.json: internal port 18800, health check /v1/health, migrations before deploy", () => {
    const fly = parseToml(readFileSync(join(ROOT, "fly.toml"), "utf8")) as {
      deploy: { release_command: string };
      env: Record<string, string>;
      http_service: { internal_port: number; checks: { path: string; method: string }[] };
    };
    expect(fly.http_service.internal_port).toBe(18800);
    expect(fly.http_service.checks.map((c) => [c.method, c.path])).toEqual([["GET", "/v1/health"]]);
    expect(fly.deploy.release_command).toBe("/app/deploy/entrypoint.sh migrate");
    expect(fly.env.TRIBAL_MEMORY_BEHIND_PROXY).toBe("1");
    const railway = JSON.parse(readFileSync(join(ROOT, "railway.json"), "utf8"));
    expect(railway.build.builder).toBe("DOCKERFILE");
    expect(railway.deploy.healthcheckPath).toBe("/v1/health");
    expect(railway.deploy.preDeployCommand).toEqual(["/app/deploy/entrypoint.sh migrate"]);
  });
});

describe("deploy/entrypoint.sh without a database", () => {
  it("gives up after TRIBAL_MEMORY_DB_WAIT_S when nothing listens at the URL, naming host and port, exit 1", async () => {
    const port = await freePort();
    const started = Date.now();
    const r = await runProcess("bash", [join(ROOT, "deploy/entrypoint.sh")], {
      ...process.env,
      TRIBAL_MEMORY_BIN: `${process.execPath} ${CLI}`,
      TRIBAL_MEMORY_DATABASE_URL: `postgres://app:secret@127.0.0.1:${port}/tribal`,
      TRIBAL_MEMORY_DB_WAIT_S: "2",
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`the database at 127.0.0.1:${port} did not accept connections in 2 s`);
    expect(r.stderr).not.toContain("secret");
    expect(Date.now() - started).toBeLessThan(15_000);
  }, 30_000);
});

const hasPostgres = Boolean(process.env.TEST_DATABASE_URL && process.env.TEST_APP_DATABASE_URL);
describe("deploy/entrypoint.sh against PostgreSQL", () => {
  it("with the init SQL's app role: waits for the database, migrates as the owner, serves as the app role on PORT (health and ready 200), and SIGTERM stops it with exit 0", async (ctx) => {
    if (!hasPostgres) {
      if (process.env.CI)
        throw new Error("CI runs this under scripts/with-postgres.sh: TEST_DATABASE_URL is unset");
      return ctx.skip();
    }
    const db = freshDatabase("tm_deploy");
    if (!db) throw new Error("no test database");
    const appUser = `tm_app_${randomBytes(4).toString("hex")}`;
    const owner = process.env.TEST_DATABASE_URL as string;
    try {
      // The role docker-compose's database gets, made by the same SQL file.
      execFileSync(
        `${process.env.PG_BIN ?? "/usr/lib/postgresql/15/bin"}/psql`,
        [
          "-X",
          "-q",
          "-v",
          "ON_ERROR_STOP=1",
          db.ownerUrl,
          "-f",
          join(ROOT, "deploy/postgres-init/10-app-role.sql"),
        ],
        {
          env: { ...process.env, TRIBAL_APP_USER: appUser, TRIBAL_APP_PASSWORD: "app-pw" },
          encoding: "utf8",
        },
      );
      expect(
        psql(owner, `SELECT rolsuper, rolbypassrls, rolcanlogin FROM pg_roles WHERE rolname = '${appUser}'`),
      ).toBe("f|f|t\n");
      const appUrl = new URL(db.ownerUrl);
      appUrl.username = appUser;
      appUrl.password = "app-pw";
      const port = await freePort();
      const home = join(tmp, "home");
      const entrypointEnv: NodeJS.ProcessEnv = {
        ...process.env,
        HOME: home,
        TRIBAL_MEMORY_HOME: join(home, ".tribal-memory"),
        TRIBAL_MEMORY_CONFIG: join(tmp, "no-config.yaml"),
        TRIBAL_MEMORY_BIN: `${process.execPath} ${CLI}`,
        TRIBAL_MEMORY_DATABASE_URL: appUrl.toString(),
        TRIBAL_MEMORY_ADMIN_DATABASE_URL: db.ownerUrl,
        TRIBAL_MEMORY_BEHIND_PROXY: "1",
        TRIBAL_MEMORY_EMBEDDING: "hashing",
        TRIBAL_MEMORY_LOG_LEVEL: "warn",
        PORT: String(port),
      };
      // `migrate` (compose's one-shot service, Fly's release command): the schema, then exit 0.
      const migrated = await runProcess(
        "bash",
        [join(ROOT, "deploy/entrypoint.sh"), "migrate"],
        entrypointEnv,
      );
      expect(migrated.code, migrated.stderr).toBe(0);
      expect(JSON.parse(migrated.stdout).applied).toEqual([...MIGRATION_VERSIONS]);
      const relay = startProcess("bash", [join(ROOT, "deploy/entrypoint.sh")], entrypointEnv);
      try {
        const info = await relay.started;
        expect(info.port).toBe(port);
        // Bound to every interface (behind a proxy), so loopback reaches it too.
        expect(info.url).toBe(`http://0.0.0.0:${port}`);
        // Start migrates again (idempotent: nothing left to apply), then serves with --no-migrate.
        expect(relay.output()).toContain('"applied":[]');
        const health = await fetch(`http://127.0.0.1:${port}/v1/health`);
        expect(health.status).toBe(200);
        const ready = await fetch(`http://127.0.0.1:${port}/v1/ready`);
        expect(ready.status).toBe(200);
        const roles = psql(
          owner,
          `SELECT DISTINCT usename FROM pg_stat_activity WHERE datname = '${new URL(db.ownerUrl).pathname.slice(1)}' AND pid <> pg_backend_pid() AND backend_type = 'client backend'`,
        );
        expect(roles.trim().split("\n")).toEqual([appUser]);
        relay.proc.kill("SIGTERM");
        expect(await exitOf(relay.proc)).toBe(0);
      } finally {
        if (relay.proc.exitCode === null && relay.proc.signalCode === null) relay.proc.kill("SIGKILL");
      }
    } finally {
      db.drop();
      psql(owner, `DROP ROLE IF EXISTS ${appUser}`);
    }
  }, 120_000);
});
