import { type ChildProcess, spawn } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { api } from "@tribalmemory/sync-server/testing";
import { Agent, request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeSelfSignedCertificate } from "../helpers/tls.ts";

/**
 * `tribalmemory relay …`, `keys …` and `init --cloud` as real processes (issue 8, findings 4,
 * 12 and 13): flags that reach the relay, the PGlite folder lock across processes and SIGKILL,
 * the config file, one-line failures, and clients that name the relay they cannot reach.
 *
 * A PGlite `relay init` costs 10–50 s on a loaded CI machine, so it runs once, into a template
 * folder, and the tests that are not about init start from a copy of it (a PGlite folder copies
 * fine while no process holds it). The tests about init still run their own.
 */
const CLI = fileURLToPath(new URL("../../cli/src/tribalmemory.ts", import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), "tm-relay-cli-"));
const home = join(tmp, "home");
mkdirSync(home, { recursive: true });
const env = {
  ...process.env,
  HOME: home,
  TRIBAL_MEMORY_HOME: join(home, ".tribal-memory"),
  TRIBAL_MEMORY_LOG_LEVEL: "warn",
  TRIBAL_MEMORY_DATABASE_URL: "",
  TRIBAL_MEMORY_CLOUD_URL: "",
  TRIBAL_MEMORY_API_KEY: "",
};
delete (env as Record<string, unknown>).TRIBAL_MEMORY_CONFIG;
const children: ChildProcess[] = [];

afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  rmSync(tmp, { recursive: true, force: true });
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(args: string[], extraEnv: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI, ...args], {
      env: { ...env, ...extraEnv },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d) => (stdout += d));
    p.stderr.on("data", (d) => (stderr += d));
    p.on("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

async function init(args: string[]): Promise<{
  workspace_id: string;
  user_id: string;
  api_key: string;
  key_id: string;
  existing_user: boolean;
}> {
  const r = await run(["relay", "init", ...args]);
  if (r.code !== 0) throw new Error(`relay init failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout.slice(0, r.stdout.lastIndexOf("}") + 1));
}

/** `relay start` in the background: resolves with its printed JSON line, or rejects with its stderr. */
function start(
  args: string[],
): Promise<{ proc: ChildProcess; info: { url: string; address: string; port: number; pid: number } }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [CLI, "relay", "start", "--embedding", "hashing", ...args], {
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.push(proc);
    let stdout = "";
    let stderr = "";
    proc.stderr.on("data", (d) => (stderr += d));
    proc.stdout.on("data", (d) => {
      stdout += d;
      const line = stdout.split("\n").find((l) => l.startsWith("{"));
      if (line) resolve({ proc, info: JSON.parse(line) });
    });
    proc.on("exit", (code) => reject(new Error(`relay start exited ${code}: ${stderr}`)));
  });
}

const exited = (p: ChildProcess) =>
  p.exitCode !== null || p.signalCode !== null
    ? Promise.resolve()
    : new Promise<void>((r) => p.once("exit", () => r()));

/** The one `relay init --data-dir template --email ops@example.com` of the file. */
const templateDir = join(tmp, "template");
let template: Awaited<ReturnType<typeof init>>;
beforeAll(async () => {
  template = await init(["--data-dir", templateDir, "--email", "ops@example.com"]);
}, 120_000);

/** A relay folder as `relay init` left it, with the template's workspace, user and admin key. */
function initializedCopy(name: string): string {
  const dir = join(tmp, name);
  cpSync(templateDir, dir, { recursive: true });
  return dir;
}

describe("relay data folder (finding 12)", () => {
  let dataDir: string;
  let key: string;

  it("relay init --data-dir X and relay start --data-dir X use X (not ~/.tribal-memory/relay)", async () => {
    expect(existsSync(join(templateDir, "PG_VERSION"))).toBe(true);
    expect(existsSync(join(env.TRIBAL_MEMORY_HOME, "relay"))).toBe(false);
    expect(template.api_key).toMatch(/^tm_live_/);
    expect(template.existing_user).toBe(false);
    dataDir = initializedCopy("relay-data");
    key = template.api_key;
  });

  it("a second relay (or relay init) on a folder in use is refused with DATA_DIR_LOCKED; after SIGKILL of the holder a restart works and keeps the acknowledged write", async () => {
    const first = await start(["--data-dir", dataDir, "--port", String(await freePort())]);
    expect(first.info.address).toBe("127.0.0.1");
    const wrote = await api<{ memory_id: string }>(
      first.info.url,
      "POST",
      "/v1/remember",
      { content: "the lock test fact about a kumquat" },
      key,
    );
    expect(wrote.status).toBe(201);

    const second = await run([
      "relay",
      "start",
      "--data-dir",
      dataDir,
      "--port",
      String(await freePort()),
      "--embedding",
      "none",
    ]);
    expect(second.code).toBe(3);
    expect(second.stderr).toContain("DATA_DIR_LOCKED");
    expect(second.stderr).toContain(`pid ${first.info.pid}`);
    expect(second.stderr).not.toMatch(/\n\s+at /);
    const initAgain = await run(["relay", "init", "--data-dir", dataDir]);
    expect(initAgain.code).toBe(3);
    expect(initAgain.stderr).toContain("DATA_DIR_LOCKED");

    first.proc.kill("SIGKILL");
    await exited(first.proc);
    const again = await start(["--data-dir", dataDir, "--port", String(await freePort())]);
    const got = await api<{ content: string }>(
      again.info.url,
      "GET",
      `/v1/memories/${wrote.body.memory_id}`,
      undefined,
      key,
    );
    expect(got.status).toBe(200);
    expect(JSON.stringify(got.body)).toContain("kumquat");
    again.proc.kill("SIGTERM");
    await exited(again.proc);
  }, 120_000);
});

describe("relay CLI (finding 13 and 4)", () => {
  it("relay init --email twice adds a workspace for the existing user instead of a users_email_key stack", async () => {
    const dir = initializedCopy("email");
    const a = template;
    const r = await run([
      "relay",
      "init",
      "--data-dir",
      dir,
      "--email",
      "ops@example.com",
      "--name",
      "second",
    ]);
    expect(r.stderr).not.toContain("users_email_key");
    expect(r.code).toBe(0);
    const b = JSON.parse(r.stdout.slice(0, r.stdout.lastIndexOf("}") + 1));
    expect(b.user_id).toBe(a.user_id);
    expect(b.existing_user).toBe(true);
    expect(b.workspace_id).not.toBe(a.workspace_id);
  }, 60_000);

  it("relay start --config reads the file's relay section (port, data folder, TLS)", async () => {
    const dir = initializedCopy("config-relay");
    const { api_key } = template;
    makeSelfSignedCertificate(tmp);
    const port = await freePort();
    const configPath = join(tmp, "relay.yaml");
    writeFileSync(
      configPath,
      `relay:\n  port: ${port}\n  data_dir: ${dir}\n  tls_cert: ${join(tmp, "cert.pem")}\n  tls_key: ${join(tmp, "key.pem")}\n`,
    );
    const r = await start(["--config", configPath]);
    expect(r.info.url).toBe(`https://127.0.0.1:${port}`);
    const res = await request(`${r.info.url}/v1/health`, {
      dispatcher: new Agent({ connect: { ca: readFileSync(join(tmp, "cert.pem")) } }),
      headers: { authorization: `Bearer ${api_key}` },
    });
    expect(res.statusCode).toBe(200);
    r.proc.kill("SIGTERM");
    await exited(r.proc);
  }, 90_000);

  it("relay start on 0.0.0.0 without TLS or --behind-proxy exits with TLS_REQUIRED, one line", async () => {
    const r = await run([
      "relay",
      "start",
      "--host",
      "0.0.0.0",
      "--port",
      String(await freePort()),
      "--embedding",
      "none",
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toMatch(/^tribalmemory relay: TLS_REQUIRED: .*--tls-cert.*--behind-proxy/);
  }, 30_000);

  it("an unreachable --database-url is one clear line and a non-zero exit, not a stack trace", async () => {
    const url = `postgres://tribal:secret@127.0.0.1:${await freePort()}/nowhere`;
    for (const cmd of ["start", "init"]) {
      const r = await run(
        ["relay", cmd, "--database-url", url, "--embedding", "none"].slice(0, cmd === "init" ? 4 : 6),
      );
      expect(r.code).toBe(1);
      const lines = r.stderr.trim().split("\n");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(
        /DATABASE_UNREACHABLE: Cannot connect to PostgreSQL at postgres:\/\/tribal:\*\*\*@127\.0\.0\.1/,
      );
      expect(lines[0]).toContain("--database-url");
      expect(r.stderr).not.toContain("secret");
    }
  }, 60_000);

  it("keys against an unreachable relay name the relay and its URL, not the daemon", async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const r = await run(["keys", "list", "--relay", url, "--api-key", "tm_live_whatever"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`No TribalMemory relay answered at ${url}`);
    expect(r.stderr).not.toContain("daemon start");
  }, 30_000);

  describe("with a running relay", () => {
    let relay: Awaited<ReturnType<typeof start>>;
    let key: string;
    let keyId: string;

    it("starts", async () => {
      key = template.api_key;
      keyId = template.key_id;
      relay = await start(["--data-dir", initializedCopy("live"), "--port", String(await freePort())]);
    }, 90_000);

    it("init --cloud verifies the relay: a wrong key or an unreachable URL exits non-zero and writes nothing; --no-verify skips it", async () => {
      const envFile = join(env.TRIBAL_MEMORY_HOME, ".env");
      const wrong = await run(["init", "--cloud", "--url", relay.info.url, "--api-key", "tm_live_wrong"]);
      expect(wrong.code).toBe(1);
      expect(wrong.stderr).toContain("refused the API key");
      expect(existsSync(envFile)).toBe(false);
      const deadUrl = `http://127.0.0.1:${await freePort()}`;
      const dead = await run(["init", "--cloud", "--url", deadUrl, "--api-key", key]);
      expect(dead.code).toBe(1);
      expect(dead.stderr).toContain(`No TribalMemory relay answered at ${deadUrl}`);
      expect(existsSync(envFile)).toBe(false);
      const ok = await run(["init", "--cloud", "--url", relay.info.url, "--api-key", key]);
      expect(ok.code).toBe(0);
      expect(readFileSync(envFile, "utf8")).toContain(`TRIBAL_MEMORY_CLOUD_URL=${relay.info.url}`);
      const skipped = await run(["init", "--cloud", "--url", deadUrl, "--api-key", key, "--no-verify"]);
      expect(skipped.code).toBe(0);
      expect(readFileSync(envFile, "utf8")).toContain(`TRIBAL_MEMORY_CLOUD_URL=${deadUrl}`);
    }, 60_000);

    it("revoking the workspace's last admin key is refused with 409 LAST_ADMIN_KEY", async () => {
      const r = await run(["keys", "revoke", keyId, "--relay", relay.info.url, "--api-key", key]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("LAST_ADMIN_KEY");
      const direct = await api<{ error: { code: string } }>(
        relay.info.url,
        "DELETE",
        `/v1/auth/keys/${keyId}`,
        undefined,
        key,
      );
      expect(direct.status).toBe(409);
      expect(direct.body.error.code).toBe("LAST_ADMIN_KEY");
      // With a second admin key, the first can go; then the second is the last.
      const second = await api<{ id: string; key: string }>(
        relay.info.url,
        "POST",
        "/v1/auth/keys",
        { name: "admin 2", scopes: ["admin"] },
        key,
      );
      expect(
        (await api(relay.info.url, "DELETE", `/v1/auth/keys/${keyId}`, undefined, second.body.key)).status,
      ).toBe(200);
      expect(
        (await api(relay.info.url, "DELETE", `/v1/auth/keys/${second.body.id}`, undefined, second.body.key))
          .status,
      ).toBe(409);
      key = second.body.key;
    }, 30_000);

    it("relay recall with sources all includes the relay's session transcripts", async () => {
      await api(relay.info.url, "POST", "/v1/remember", { content: "the ocelot budget was approved" }, key);
      const ingest = await api(
        relay.info.url,
        "POST",
        "/v1/sessions/ingest",
        {
          session_id: "s-1",
          messages: [{ id: "m1", role: "user", content: "we discussed the ocelot migration plan" }],
        },
        key,
      );
      expect(ingest.status).toBe(201);
      const all = await api<{ results: { type: string }[] }>(
        relay.info.url,
        "POST",
        "/v1/recall",
        { query: "ocelot", sources: "all", limit: 10 },
        key,
      );
      expect(all.status).toBe(200);
      expect(all.body.results.map((r) => r.type).sort()).toEqual(["memory", "session"]);
      const sessions = await api<{ results: { type: string }[] }>(
        relay.info.url,
        "POST",
        "/v1/recall",
        { query: "ocelot", sources: "sessions" },
        key,
      );
      expect(sessions.body.results.map((r) => r.type)).toEqual(["session"]);
      relay.proc.kill("SIGTERM");
      await exited(relay.proc);
    }, 30_000);
  });
});
