import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  allSynced,
  api,
  type DaemonProcess,
  freePort,
  type RelayProcess,
  relayDb,
  relayInit,
  sleep,
  startDaemonProcess,
  startRelayProcess,
  tempDir,
  waitFor,
} from "../sync/harness.ts";

interface MemoryJson {
  id: string;
  content: string;
  deleted: boolean;
  expires_at?: string;
}
type Recall = { results: { memory: MemoryJson }[] };
type List = { memories: MemoryJson[] };
type ErrorJson = { error: { code: string; details: { issues: { path: string }[] } } };

/**
 * Issue 13, item 7, as real processes on loopback: a relay and two daemons syncing through it.
 *
 * Memory lifetimes: a memory remembered with a ttl on a daemon, and one on the relay over HTTP,
 * are found everywhere; once expired they are hidden from recall, get and list on the daemons
 * and the relay; the relay's sweep forgets them as ordinary deletions, and the tombstones reach
 * both daemons. The daemons' own sweeps are slowed to an hour here, so the deletions they
 * receive can only have come through sync. (Hidden-before-swept is asserted with a controlled
 * clock in the store conformance suite, on SQLite, PGlite and Postgres.)
 *
 * The CLI's memory commands against the relay directly: `--url` with `--api-key`, or
 * TRIBAL_MEMORY_URL with TRIBAL_MEMORY_API_KEY. Before, the CLI sent only a daemon's local token
 * and the relay answered UNAUTHENTICATED (and `--api-key` was an unknown option).
 */
const CLI = fileURLToPath(new URL("../../cli/src/tribalmemory.ts", import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe("memory lifetimes and the CLI against a relay, with two daemons", () => {
  const dir = tempDir("tm-expiry-");
  const db = relayDb(`${dir.path}/relay`);
  let relay: RelayProcess;
  let key: string;
  let a: DaemonProcess;
  let b: DaemonProcess;
  const onRelay = <T>(method: string, path: string, body?: unknown) =>
    api<T>(relay.url, method, path, body, key);
  const recallIds = async (call: typeof onRelay, query: string) =>
    (await call<Recall>("POST", "/v1/recall", { query, limit: 10 })).body.results.map((r) => r.memory.id);
  const listIds = async (call: typeof onRelay, query = "") =>
    (await call<List>("GET", `/v1/memories?limit=100${query}`)).body.memories.map((m) => m.id);

  beforeAll(async () => {
    const sweep = process.env.TRIBAL_MEMORY_EXPIRY_SWEEP_MS;
    try {
      key = (await relayInit(db)).apiKey;
      process.env.TRIBAL_MEMORY_EXPIRY_SWEEP_MS = "300";
      relay = await startRelayProcess(db, await freePort());
      process.env.TRIBAL_MEMORY_EXPIRY_SWEEP_MS = String(3_600_000);
      [a, b] = await Promise.all([
        startDaemonProcess({ home: `${dir.path}/a`, relayUrl: relay.url, apiKey: key, instance: "agent@a" }),
        startDaemonProcess({ home: `${dir.path}/b`, relayUrl: relay.url, apiKey: key, instance: "agent@b" }),
      ]);
    } finally {
      if (sweep === undefined) delete process.env.TRIBAL_MEMORY_EXPIRY_SWEEP_MS;
      else process.env.TRIBAL_MEMORY_EXPIRY_SWEEP_MS = sweep;
    }
  }, 120_000);

  afterAll(async () => {
    await Promise.all([a?.kill(), b?.kill(), relay?.kill()]);
    dir.remove();
  });

  it("a past expires_at and ttl beside expires_at are VALIDATION_FAILED (422) on the daemon and the relay", async () => {
    const past = { content: "already over", expires_at: new Date(Date.now() - 60_000).toISOString() };
    for (const call of [a.call, onRelay]) {
      const r = await call<ErrorJson>("POST", "/v1/remember", past);
      expect(r.status).toBe(422);
      expect(r.body.error.code).toBe("VALIDATION_FAILED");
      expect(r.body.error.details.issues[0].path).toBe("expires_at");
      const both = await call<ErrorJson>("POST", "/v1/remember", {
        content: "x",
        ttl: "1d",
        expires_at: "2999-01-01T00:00:00Z",
      });
      expect([both.status, both.body.error.details.issues[0].path]).toEqual([422, "ttl"]);
      const bad = await call<ErrorJson>("POST", "/v1/remember", { content: "x", ttl: "soon" });
      expect([bad.status, bad.body.error.code]).toEqual([422, "VALIDATION_FAILED"]);
    }
  });

  it("expiring memories are found, then hidden everywhere, then swept by the relay with the deletions synced", async () => {
    const ttlSeconds = 4;
    const fromDaemon = await a.call<{ memory_id: string; memory: MemoryJson }>("POST", "/v1/remember", {
      content: "the release freeze lasts until friday",
      ttl: ttlSeconds,
    });
    expect(fromDaemon.status).toBe(201);
    const fromRelay = await onRelay<{ memory_id: string; memory: MemoryJson }>("POST", "/v1/remember/batch", {
      memories: [{ content: "the release branch is release-42", ttl: `${ttlSeconds}s` }],
    });
    expect(fromRelay.status).toBe(201);
    // An import keeps an entry's expires_at (a JSONL line, as `tribalmemory import` sends it).
    const importedId = randomUUID();
    const line = {
      id: importedId,
      content: "the release train leaves at noon",
      expires_at: fromDaemon.body.memory.expires_at,
    };
    const imported = await fetch(`${relay.url}/v1/import`, {
      method: "POST",
      headers: { "content-type": "application/x-ndjson", authorization: `Bearer ${key}` },
      body: `${JSON.stringify(line)}\n`,
    });
    expect(imported.status).toBe(201);
    const kept = await a.call<{ memory_id: string }>("POST", "/v1/remember", {
      content: "the release notes live in docs",
    });
    const mortal = [
      fromDaemon.body.memory_id,
      (fromRelay.body as unknown as { results: { memory_id: string }[] }).results[0].memory_id,
      importedId,
    ];
    const expiresAt = Date.parse(fromDaemon.body.memory.expires_at ?? "");
    expect(expiresAt).toBeGreaterThan(Date.now());

    // Found on both daemons and the relay while alive.
    await waitFor("the memories on every replica", async () => {
      for (const call of [a.call, b.call, onRelay]) {
        const ids = await recallIds(call, "release");
        if (!mortal.every((id) => ids.includes(id))) return false;
      }
      return allSynced([a, b]);
    });
    expect((await onRelay<MemoryJson>("GET", `/v1/memories/${mortal[0]}`)).body.expires_at).toBe(
      fromDaemon.body.memory.expires_at,
    );
    const relayMemory = await b.call<MemoryJson>("GET", `/v1/memories/${mortal[1]}`);
    expect(relayMemory.status).toBe(200);
    const lastExpiry = Math.max(expiresAt, Date.parse(relayMemory.body.expires_at ?? ""));

    await sleep(Math.max(0, lastExpiry - Date.now()) + 50);
    for (const call of [a.call, b.call, onRelay]) {
      const recalled = await recallIds(call, "release");
      expect(recalled).toContain(kept.body.memory_id);
      expect(recalled.filter((id) => mortal.includes(id))).toEqual([]);
      expect((await listIds(call)).filter((id) => mortal.includes(id))).toEqual([]);
      for (const id of mortal) expect((await call("GET", `/v1/memories/${id}`)).status).toBe(404);
    }

    // The relay's sweep forgets them; the tombstones reach both daemons (which do not sweep here).
    for (const d of [a, b]) {
      await waitFor(`the sweep's deletions on ${d.url}`, async () => {
        const all = (
          await d.call<List>("GET", "/v1/memories?limit=100&include_deleted=true&include_expired=true")
        ).body;
        return mortal.every((id) => all.memories.find((m) => m.id === id)?.deleted === true);
      });
    }
    expect(
      (await onRelay<List>("GET", "/v1/memories?include_deleted=true&include_expired=true")).body.memories,
    ).toEqual(expect.arrayContaining(mortal.map((id) => expect.objectContaining({ id, deleted: true }))));
  });

  /** `tribalmemory` as a process, with no daemon of its own: a fallback to one would fail loudly. */
  const cli = (args: string[], extraEnv: Record<string, string> = {}): Promise<Run> =>
    new Promise((resolve) => {
      const home = join(dir.path, "cli-home");
      const env = {
        ...process.env,
        HOME: home,
        TRIBAL_MEMORY_HOME: home,
        TRIBAL_MEMORY_CONFIG: join(home, "none.yaml"),
        TRIBAL_MEMORY_LOG_LEVEL: "warn",
        TRIBAL_MEMORY_URL: "",
        TRIBAL_MEMORY_API_KEY: "",
        TRIBAL_MEMORY_CLOUD_URL: "",
        ...extraEnv,
      };
      const p = spawn(process.execPath, [CLI, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      p.stdout.on("data", (d) => (stdout += d));
      p.stderr.on("data", (d) => (stderr += d));
      p.on("exit", (code) => resolve({ code, stdout, stderr }));
    });
  const json = <T>(r: Run): T => {
    if (r.code !== 0) throw new Error(`tribalmemory exited ${r.code}: ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  };

  it("the CLI's memory commands reach the relay with --url and --api-key, or TRIBAL_MEMORY_URL and TRIBAL_MEMORY_API_KEY", async () => {
    const flags = ["--url", relay.url, "--api-key", key];
    const envForm = { TRIBAL_MEMORY_URL: relay.url, TRIBAL_MEMORY_API_KEY: key };
    const statsBefore = (await onRelay<{ total_memories: number; deleted: number }>("GET", "/v1/stats")).body;
    const file = join(dir.path, "import.jsonl");
    writeFileSync(
      file,
      `${JSON.stringify({ content: "the relay imports through the CLI", tags: ["imported"] })}\n`,
    );
    // Independent commands run side by side (each is a Node start, seconds on a loaded machine).
    // A daemon synced with the relay has the relay's key in its environment: with its own URL,
    // the CLI still talks to it with the local token (a key there would stand in for the token).
    const daemonEnv = {
      TRIBAL_MEMORY_HOME: a.home,
      TRIBAL_MEMORY_CONFIG: join(a.home, "config.yaml"),
      TRIBAL_MEMORY_URL: a.url,
      TRIBAL_MEMORY_API_KEY: key,
    };
    const [remembered, imported, wrongKey, noUrl, daemonExport] = await Promise.all([
      cli(["remember", "the staging database runs on port 6543", "--ttl", "1d", "--json", ...flags]),
      cli(["import", file, "--json"], envForm),
      cli(["stats", "--url", relay.url, "--api-key", "tm_live_not_a_key"]),
      cli(["stats", "--api-key", key]),
      cli(["export", "-o", join(dir.path, "daemon-export.jsonl")], daemonEnv),
    ]);
    const memory = json<{ memory_id: string; memory: { expires_at?: string } }>(remembered);
    expect(Date.parse(memory.memory.expires_at ?? "") - Date.now()).toBeGreaterThan(86_000_000);
    expect(json<{ imported: number }>(imported).imported).toBe(1);
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.stderr).toMatch(/^tribalmemory: UNAUTHENTICATED: /);
    expect(noUrl.code).toBe(1);
    expect(noUrl.stderr).toContain("name the relay with --url");
    expect(daemonExport.code, daemonExport.stderr).toBe(0);
    expect(readFileSync(join(dir.path, "daemon-export.jsonl"), "utf8")).toContain(
      "the release notes live in docs",
    );

    const out = join(dir.path, "export.jsonl");
    const [recalled, exported] = await Promise.all([
      cli(["recall", "staging database port relay imports", "--json"], envForm),
      cli(["export", "-o", out, ...flags]),
    ]);
    const ids = json<{ results: { memory: { id: string; content: string } }[] }>(recalled).results.map(
      (r) => r.memory.content,
    );
    expect(ids).toEqual(
      expect.arrayContaining(["the staging database runs on port 6543", "the relay imports through the CLI"]),
    );
    expect(exported.code, exported.stderr).toBe(0);
    expect(readFileSync(out, "utf8")).toContain("port 6543");

    const corrected = json<{ memory_id: string }>(
      await cli(["correct", memory.memory_id, "the staging database runs on port 6544", "--json", ...flags]),
    );
    const forgot = await cli(["forget", corrected.memory_id], envForm);
    expect(forgot.stdout).toContain(`forgot ${corrected.memory_id}`);
    const stats = json<{ total_memories: number; deleted: number }>(await cli(["stats", "--json", ...flags]));
    // Remembered + imported live; the correction forgotten.
    expect(stats.total_memories - statsBefore.total_memories).toBe(2);
    expect(stats.deleted - statsBefore.deleted).toBe(1);
  });
});
