import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { MIGRATION_VERSIONS } from "@tribalmemory/sync-server/store/migrations";
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
 * The relay reads the spec's config keys (`server`, `db`, `auth`) from `--config` or
 * TRIBAL_MEMORY_CONFIG, reports every mistake of a file at once, and `relay migrate` /
 * `relay start --no-migrate` split schema changes (owner) from serving (app role). All through
 * the real CLI process.
 */
const DAEMON = fileURLToPath(new URL("../../cli/src/tribalmemoryd.ts", import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), "tm-relay-config-"));
const home = join(tmp, "home");
mkdirSync(home, { recursive: true });
const env: NodeJS.ProcessEnv = {
  ...process.env,
  HOME: home,
  TRIBAL_MEMORY_HOME: join(home, ".tribal-memory"),
  TRIBAL_MEMORY_LOG_LEVEL: "warn",
};
for (const k of ["TRIBAL_MEMORY_CONFIG", "TRIBAL_MEMORY_DATABASE_URL", "TRIBAL_MEMORY_ADMIN_DATABASE_URL"])
  delete env[k];
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  rmSync(tmp, { recursive: true, force: true });
});

const cli = (args: string[], extra: NodeJS.ProcessEnv = {}) =>
  runProcess(process.execPath, [CLI, ...args], { ...env, ...extra });
function startRelayProcess(args: string[], extra: NodeJS.ProcessEnv = {}) {
  const p = startProcess(process.execPath, [CLI, "relay", "start", "--embedding", "hashing", ...args], {
    ...env,
    ...extra,
  });
  children.push(p.proc);
  return p;
}
function writeConfig(name: string, yaml: string): string {
  const path = join(tmp, name);
  writeFileSync(path, yaml);
  return path;
}

describe("relay config file", () => {
  it("relay start --config with the spec's keys listens on server.port, keeps its data in db.uri, and with auth.enabled: false serves keyless requests on loopback; the same file starts the daemon", async () => {
    const port = await freePort();
    const dataDir = join(tmp, "spec-pglite");
    const config = writeConfig(
      "spec-pglite.yaml",
      `instance_id: relay-test\nserver:\n  host: 127.0.0.1\n  port: ${port}\ndb:\n  provider: pglite\n  uri: ${dataDir}\nembedding:\n  provider: hashing\nauth:\n  enabled: false\nsync:\n  enabled: false\n  interval: 7\n`,
    );
    const relay = startRelayProcess(["--config", config]);
    const info = await relay.started;
    expect(info.url).toBe(`http://127.0.0.1:${port}`);
    expect(existsSync(join(dataDir, "PG_VERSION"))).toBe(true);
    const health = await fetch(`${info.url}/v1/health`);
    expect(health.status).toBe(200);
    const remembered = await fetch(`${info.url}/v1/remember`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ content: "single-tenant relays need no key on loopback" }),
    });
    expect(remembered.status).toBe(201);
    const recalled = await fetch(`${info.url}/v1/recall`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: "single-tenant key" }),
    });
    const body = (await recalled.json()) as { results: { memory: { content: string } }[] };
    expect(body.results.map((r) => r.memory.content)).toContain(
      "single-tenant relays need no key on loopback",
    );
    relay.proc.kill("SIGTERM");
    expect(await exitOf(relay.proc)).toBe(0);

    // The same file starts the daemon: it takes server.* and instance_id, and leaves db to the relay.
    const daemon = spawn(process.execPath, [DAEMON, "--config", config, "--embedding", "none"], {
      env,
      stdio: "ignore",
    });
    children.push(daemon);
    let answer: Response | null = null;
    for (let i = 0; i < 300 && !answer; i++) {
      answer = await fetch(`http://127.0.0.1:${port}/v1/health`).catch(() => null);
      if (!answer) await new Promise((r) => setTimeout(r, 100));
    }
    if (!answer) throw new Error("the daemon did not answer in 30 s");
    expect(answer.status).toBe(200);
    expect(((await answer.json()) as { instance_id: string }).instance_id).toBe("relay-test");
    daemon.kill("SIGTERM");
    expect(await exitOf(daemon)).toBe(0);
  }, 120_000);

  it("TRIBAL_MEMORY_CONFIG names the file too; three mistakes are one CONFIG_INVALID listing each with its line, exit 1, no stack", async () => {
    const config = writeConfig(
      "three-mistakes.yaml",
      ["server:", "  port: 99999", "db:", "  provider: mysql", "auth:", "  enable: false", ""].join("\n"),
    );
    const r = await cli(["relay", "start", "--embedding", "none"], { TRIBAL_MEMORY_CONFIG: config });
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split("\n");
    expect(lines[0]).toBe(
      `tribalmemory relay: CONFIG_INVALID: Config ${config} has 3 problems; fix them and start again:`,
    );
    expect(lines.slice(1)).toEqual([
      expect.stringMatching(
        new RegExp(`^  ${config}:2:9: server\\.port: Too big: expected number to be <=65535`),
      ),
      expect.stringMatching(new RegExp(`^  ${config}:4:13: db\\.provider: .*"postgres"\\|"pglite"`)),
      `  ${config}:6:3: auth.enable: unknown key; allowed here: enabled, require_key`,
    ]);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    // The daemon and the other commands read the same file the same way.
    for (const [cmd, args, prefix] of [
      [DAEMON, [], "tribalmemoryd"],
      [CLI, ["stats"], "tribalmemory"],
    ] as const) {
      const other = await runProcess(process.execPath, [cmd, ...args], {
        ...env,
        TRIBAL_MEMORY_CONFIG: config,
      });
      expect(other.code).toBe(1);
      expect(other.stderr.split("\n").slice(0, 4)).toEqual([
        `${prefix}: ${lines[0].slice("tribalmemory relay: ".length)}`,
        ...lines.slice(1),
      ]);
    }
  }, 60_000);

  it("auth.enabled: false behind a proxy is refused with AUTH_DISABLED_OFF_LOOPBACK before anything opens", async () => {
    const config = writeConfig("keyless-proxy.yaml", "auth: { enabled: false }\n");
    const r = await cli([
      "relay",
      "start",
      "--config",
      config,
      "--host",
      "0.0.0.0",
      "--behind-proxy",
      "--port",
      String(await freePort()),
      "--embedding",
      "none",
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toMatch(
      /^tribalmemory relay: AUTH_DISABLED_OFF_LOOPBACK: Refusing auth\.enabled: false on 0\.0\.0\.0 behind a proxy/,
    );
    expect(existsSync(join(home, ".tribal-memory", "relay"))).toBe(false);
  }, 60_000);

  it("relay.regions and relay.billing come from the file, the Stripe secrets from the environment: a foreign region's key hears 421, a forged webhook 400; billing without its secrets refuses to start", async () => {
    const port = await freePort();
    const dataDir = join(tmp, "regions-billing");
    const init = await cli(["relay", "init", "--data-dir", dataDir, "--region", "us"]);
    expect(init.code).toBe(0);
    const usKey = JSON.parse(init.stdout.slice(0, init.stdout.lastIndexOf("}") + 1)).api_key as string;
    const config = writeConfig(
      "regions-billing.yaml",
      `relay:\n  port: ${port}\n  data_dir: ${dataDir}\n  regions: [eu]\n  billing:\n    stripe:\n      prices: { pro: price_pro, team: price_team }\n`,
    );
    const refused = await cli(["relay", "start", "--embedding", "hashing", "--config", config]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain("CONFIG_INVALID");
    expect(refused.stderr).toContain("TRIBAL_MEMORY_STRIPE_SECRET_KEY");
    const relay = startRelayProcess(["--config", config], {
      TRIBAL_MEMORY_STRIPE_SECRET_KEY: "sk_test_config",
      TRIBAL_MEMORY_STRIPE_WEBHOOK_SECRET: "whsec_config",
    });
    const info = await relay.started;
    const stats = await fetch(`${info.url}/v1/stats`, { headers: { authorization: `Bearer ${usKey}` } });
    expect(stats.status).toBe(421);
    expect(
      ((await stats.json()) as { error: { code: string; details: { region: string } } }).error,
    ).toMatchObject({
      code: "WRONG_REGION",
      details: { region: "us" },
    });
    const webhook = await fetch(`${info.url}/v1/billing/webhook`, {
      method: "POST",
      headers: { "content-type": "application/json", "stripe-signature": "t=1,v1=forged" },
      body: JSON.stringify({ id: "evt_1", type: "checkout.session.completed" }),
    });
    expect(webhook.status).toBe(400);
    expect(((await webhook.json()) as { error: { code: string } }).error.code).toBe(
      "WEBHOOK_SIGNATURE_INVALID",
    );
    relay.proc.kill("SIGTERM");
    expect(await exitOf(relay.proc)).toBe(0);
  });
});

const db = freshDatabase("tm_relay_migrate");
describe.skipIf(!db)("relay migrate and relay start --no-migrate (PostgreSQL)", () => {
  afterAll(() => db?.drop());
  const { ownerUrl, appUrl } = db ?? { ownerUrl: "", appUrl: "" };
  const latest = MIGRATION_VERSIONS[MIGRATION_VERSIONS.length - 1];

  it("start --no-migrate on an empty database exits non-zero with SCHEMA_OUTDATED and the command to run", async () => {
    const r = await cli([
      "relay",
      "start",
      "--no-migrate",
      "--database-url",
      appUrl,
      "--port",
      String(await freePort()),
      "--embedding",
      "none",
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toMatch(/^tribalmemory relay: SCHEMA_OUTDATED: .*relay migrate/);
    expect(psql(ownerUrl, "SELECT to_regclass('public.schema_migrations') IS NULL")).toBe("t\n");
  }, 60_000);

  it("relay migrate applies every version as the owner, prints them, and applies nothing the second time", async () => {
    const first = await cli(["relay", "migrate", "--admin-database-url", ownerUrl, "--database-url", appUrl]);
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toEqual({
      database: ownerUrl,
      applied: [...MIGRATION_VERSIONS],
      schema_versions: [...MIGRATION_VERSIONS],
    });
    const again = await cli(["relay", "migrate", "--admin-database-url", ownerUrl, "--database-url", appUrl]);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ applied: [], schema_versions: [...MIGRATION_VERSIONS] });
    // The tables belong to the owner: the app role only got its grants.
    expect(psql(ownerUrl, "SELECT tableowner FROM pg_tables WHERE tablename = 'memories'")).toBe(
      "postgres\n",
    );
  }, 120_000);

  it("relay start --config with db.provider postgres and db.migrate: false serves as the app role on server.port; an older schema is refused", async () => {
    const init = await cli(["relay", "init", "--database-url", appUrl, "--admin-database-url", ownerUrl]);
    expect(init.code, init.stderr).toBe(0);
    const key = JSON.parse(init.stdout.slice(0, init.stdout.lastIndexOf("}") + 1)).api_key as string;
    const port = await freePort();
    const config = writeConfig(
      "spec-postgres.yaml",
      `server: { port: ${port} }\ndb:\n  provider: postgres\n  uri: ${appUrl}\n  migrate: false\n`,
    );
    const relay = startRelayProcess(["--config", config]);
    const info = await relay.started;
    expect(info.port).toBe(port);
    const stats = await fetch(`${info.url}/v1/stats`, { headers: { authorization: `Bearer ${key}` } });
    expect(stats.status).toBe(200);
    relay.proc.kill("SIGTERM");
    expect(await exitOf(relay.proc)).toBe(0);

    // A schema one version behind this build: the same start now refuses.
    psql(ownerUrl, `DELETE FROM schema_migrations WHERE version = ${latest}`);
    try {
      const r = await cli(["relay", "start", "--config", config, "--embedding", "none"]);
      expect(r.code).toBe(1);
      expect(r.stderr.trim()).toMatch(
        new RegExp(
          `^tribalmemory relay: SCHEMA_OUTDATED: The database schema lacks migration ${latest} of this build`,
        ),
      );
    } finally {
      psql(ownerUrl, `INSERT INTO schema_migrations (version) VALUES (${latest})`);
    }
  }, 120_000);
});
