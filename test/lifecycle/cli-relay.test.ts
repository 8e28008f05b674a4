import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  freePort,
  type RelayProcess,
  relayDb,
  relayInit,
  startRelayProcess,
  tempDir,
} from "../sync/harness.ts";

/**
 * The CLI's memory commands against a relay directly (issue 13, item 7): `--url` with
 * `--api-key`, or TRIBAL_MEMORY_URL with TRIBAL_MEMORY_API_KEY, as a real `tribalmemory`
 * process against a real relay process. Before, the CLI sent only the daemon's local token,
 * and the relay answered UNAUTHENTICATED.
 */
const CLI = fileURLToPath(new URL("../../cli/src/tribalmemory.ts", import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe("the CLI's memory commands against a relay", () => {
  const dir = tempDir("tm-cli-relay-");
  const home = join(dir.path, "home");
  let relay: RelayProcess;
  let key: string;
  // No daemon, no config: a call that fell back to the local daemon would fail loudly.
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: home,
    TRIBAL_MEMORY_HOME: join(home, ".tribal-memory"),
    TRIBAL_MEMORY_CONFIG: join(home, "none.yaml"),
    TRIBAL_MEMORY_LOG_LEVEL: "warn",
    TRIBAL_MEMORY_URL: "",
    TRIBAL_MEMORY_API_KEY: "",
    TRIBAL_MEMORY_CLOUD_URL: "",
  };

  const cli = (args: string[], extraEnv: Record<string, string> = {}): Promise<Run> =>
    new Promise((resolve) => {
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
  const relayArgs = () => ["--url", relay.url, "--api-key", key];
  const json = <T>(r: Run): T => {
    if (r.code !== 0) throw new Error(`tribalmemory exited ${r.code}: ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  };

  beforeAll(async () => {
    mkdirSync(home, { recursive: true });
    const db = relayDb(join(dir.path, "relay"));
    key = (await relayInit(db)).apiKey;
    relay = await startRelayProcess(db, await freePort());
  }, 120_000);

  afterAll(async () => {
    await relay?.kill();
    dir.remove();
  });

  it("remember, recall, correct, forget and stats with --url and --api-key reach the relay's workspace", async () => {
    const remembered = json<{ memory_id: string }>(
      await cli([
        "remember",
        "the staging database runs on port 6543",
        "-t",
        "infra",
        "--json",
        ...relayArgs(),
      ]),
    );
    const recalled = json<{ results: { memory: { id: string; content: string } }[] }>(
      await cli(["recall", "staging database port", "--json", ...relayArgs()]),
    );
    expect(recalled.results.map((r) => r.memory.id)).toContain(remembered.memory_id);

    const corrected = json<{ memory_id: string }>(
      await cli([
        "correct",
        remembered.memory_id,
        "the staging database runs on port 6544",
        "--json",
        ...relayArgs(),
      ]),
    );
    const forgot = await cli(["forget", corrected.memory_id, ...relayArgs()]);
    expect(forgot.stdout).toContain(`forgot ${corrected.memory_id}`);
    const stats = json<{ total_memories: number; deleted: number }>(
      await cli(["stats", "--json", ...relayArgs()]),
    );
    expect(stats).toMatchObject({ total_memories: 1, deleted: 1 });
  });

  it("TRIBAL_MEMORY_URL and TRIBAL_MEMORY_API_KEY do the same: export and import through the relay", async () => {
    const relayEnv = { TRIBAL_MEMORY_URL: relay.url, TRIBAL_MEMORY_API_KEY: key };
    const out = join(dir.path, "export.jsonl");
    const exported = await cli(["export", "-o", out], relayEnv);
    expect(exported.code, exported.stderr).toBe(0);
    const lines = readFileSync(out, "utf8").trim().split("\n");
    expect(lines.some((l) => l.includes("port 6543"))).toBe(true);

    const file = join(dir.path, "import.jsonl");
    writeFileSync(
      file,
      `${JSON.stringify({ content: "the relay imports through the CLI", tags: ["imported"] })}\n`,
    );
    const imported = json<{ imported: number }>(await cli(["import", file, "--json"], relayEnv));
    expect(imported.imported).toBe(1);
    const recalled = json<{ results: { memory: { content: string } }[] }>(
      await cli(["recall", "relay imports", "--json"], relayEnv),
    );
    expect(recalled.results[0]?.memory.content).toBe("the relay imports through the CLI");
  });

  it("a wrong key is the relay's UNAUTHENTICATED in one line; a key without a URL says to name the relay", async () => {
    const wrong = await cli(["stats", "--url", relay.url, "--api-key", "tm_live_not_a_key"]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/^tribalmemory: UNAUTHENTICATED: /);
    const noUrl = await cli(["stats", "--api-key", key]);
    expect(noUrl.code).toBe(1);
    expect(noUrl.stderr).toContain("name the relay with --url");
  });
});
