import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { buildPlugin } from "../../openclaw-plugin/build.ts";
import { tempHome } from "../helpers/daemon.ts";

/**
 * memory-tribal loaded by OpenClaw itself: the real `openclaw plugins inspect --runtime` (the
 * check OpenClaw's docs give plugin authors) reads the manifest, validates the config against
 * its schema, loads index.ts through its loader and reports what registered. About 20 s of a
 * cold CLI, so one run per case, both at once.
 */
const PLUGIN_DIR = fileURLToPath(new URL("../../openclaw-plugin/", import.meta.url));
const OPENCLAW = join(PLUGIN_DIR, "node_modules", "openclaw", "openclaw.mjs");

interface Inspection {
  plugin: {
    id: string;
    status: string;
    kind: string;
    memorySlotSelected: boolean;
    source: string;
    toolNames: string[];
    commands: string[];
    error?: string;
  };
  typedHooks: { name: string }[];
  diagnostics: { level: string; message: string }[];
}

const homes: ReturnType<typeof tempHome>[] = [];
afterAll(() => {
  for (const h of homes) h.cleanup();
});

/** `openclaw plugins inspect memory-tribal --runtime --json` with this plugin config, in a fresh state folder. */
function inspect(pluginConfig: unknown): Promise<{ code: number; json: Inspection | null; output: string }> {
  const h = tempHome("tm-openclaw-state-");
  homes.push(h);
  const state = join(h.home, "state");
  mkdirSync(state, { recursive: true });
  const configPath = join(state, "openclaw.json");
  writeFileSync(
    configPath,
    JSON.stringify({
      plugins: {
        load: { paths: [PLUGIN_DIR] },
        slots: { memory: "memory-tribal" },
        entries: {
          "memory-tribal": { enabled: true, config: pluginConfig, hooks: { allowConversationAccess: true } },
        },
      },
    }),
  );
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [OPENCLAW, "plugins", "inspect", "memory-tribal", "--runtime", "--json"],
      {
        // Not this process's environment: under vitest (VITEST, NODE_ENV=test) the CLI prints nothing.
        env: {
          PATH: process.env.PATH,
          HOME: h.home,
          OPENCLAW_STATE_DIR: state,
          OPENCLAW_CONFIG_PATH: configPath,
        },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.on("exit", (code) => {
      let json: Inspection | null = null;
      try {
        json = JSON.parse(out.slice(out.indexOf("{"))) as Inspection;
      } catch {
        // not JSON: the assertion prints the output
      }
      resolve({ code: code ?? -1, json, output: `${out}\n${err}` });
    });
  });
}

describe("memory-tribal loaded by OpenClaw's own plugin loader", () => {
  // OpenClaw runs the built peer (openclaw.runtimeExtensions) whenever dist/ exists, in a
  // checkout too: build it first, so the loader never meets a stale one. build.test.ts checks
  // that it registers what index.ts does.
  const runs = buildPlugin().then(() =>
    Promise.all([
      inspect({ serverUrl: "http://127.0.0.1:18790", maxTokensPerTurn: 900 }),
      inspect({ serverUrl: "http://127.0.0.1:18790", autoRecall: "yes" }),
    ]),
  );

  it("loads as the memory slot's plugin with its hooks, /remember and the tribal_* tools, and no errors", async () => {
    const [{ code, json, output }] = await runs;
    expect(json, `exit ${code}: ${output.slice(0, 2000)}`).not.toBeNull();
    expect(json?.plugin).toMatchObject({
      id: "memory-tribal",
      status: "loaded",
      kind: "memory",
      memorySlotSelected: true,
      commands: ["remember"],
    });
    expect(json?.plugin.source).toBe(join(PLUGIN_DIR, "dist", "index.js"));
    expect(json?.plugin.toolNames.sort()).toEqual(["tribal_forget", "tribal_recall", "tribal_remember"]);
    expect(json?.typedHooks.map((h) => h.name).sort()).toEqual([
      "agent_end",
      "before_prompt_build",
      "session_end",
    ]);
    expect(json?.diagnostics.filter((d) => d.level === "error")).toEqual([]);
  }, 120_000);

  it("a config the manifest's schema refuses stops OpenClaw with the field named", async () => {
    const [, { code, json, output }] = await runs;
    expect(code, output).not.toBe(0);
    const refusal = json as unknown as { ok: boolean; issues: { path: string; message: string }[] };
    expect(refusal.ok).toBe(false);
    expect(refusal.issues).toContainEqual({
      path: "plugins.entries.memory-tribal.config.autoRecall",
      message: "invalid config: must be boolean",
    });
  }, 120_000);
});
