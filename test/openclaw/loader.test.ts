import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { buildPlugin } from "../../openclaw-plugin/build.ts";
import { startTestDaemon, tempHome } from "../helpers/daemon.ts";

/**
 * memory-tribal run by OpenClaw itself, as child processes of its real CLI: `openclaw plugins
 * inspect --runtime` (the check OpenClaw's docs give plugin authors: manifest, config schema,
 * loader, what registered), and `openclaw agent --local`, a real agent turn of the embedded
 * runner against a loopback model server that speaks the OpenAI chat-completions protocol and a
 * real daemon. A cold CLI takes 12-45 s on a busy 2-core machine, so the runs go at once.
 *
 * OpenClaw runs the built peer (openclaw.runtimeExtensions) whenever dist/ exists, in a checkout
 * too: it is built first, once for the file, so no run meets a stale or half-written one.
 * build.test.ts checks that it registers what index.ts does.
 */
const PLUGIN_DIR = fileURLToPath(new URL("../../openclaw-plugin/", import.meta.url));
const OPENCLAW = join(PLUGIN_DIR, "node_modules", "openclaw", "openclaw.mjs");
const built = buildPlugin();
interface Inspection {
  plugin: {
    id: string;
    status: string;
    kind: string;
    memorySlotSelected: boolean;
    source: string;
    toolNames: string[];
    commands: string[];
  };
  typedHooks: { name: string }[];
  diagnostics: { level: string; message: string }[];
}

const homes: ReturnType<typeof tempHome>[] = [];
afterAll(() => {
  for (const h of homes) h.cleanup();
});

/**
 * A fresh install leaves OpenClaw's package lifecycle pending (its scripts are not approved in
 * pnpm-workspace.yaml), and the CLI's first run completes it under a lock in the package folder.
 * Runs started at once raced for it: one read the lock half-written and exited 1 ("package
 * lifecycle is incomplete … owner cannot be verified"). One `--version` run completes it first.
 */
const settled = built.then(() => {
  const home = tempHome("tm-openclaw-version-");
  homes.push(home);
  return new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, [OPENCLAW, "--version"], {
      env: { PATH: process.env.PATH, HOME: home.home },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let err = "";
    child.stderr.on("data", (d) => (err += d));
    child.on("exit", (code) =>
      code === 0 ? resolve() : reject(new Error(`openclaw --version: exit ${code}: ${err.slice(-2000)}`)),
    );
  });
});

/** The OpenClaw CLI with `args`, this openclaw.json, in a fresh state folder; stdout parsed as JSON when it is. */
async function openclaw(
  args: string[],
  config: Record<string, unknown>,
): Promise<{ code: number; json: unknown; output: string }> {
  await settled;
  const h = tempHome("tm-openclaw-state-");
  homes.push(h);
  const state = join(h.home, "state");
  mkdirSync(state, { recursive: true });
  const configPath = join(state, "openclaw.json");
  writeFileSync(configPath, JSON.stringify(config));
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [OPENCLAW, ...args], {
      // Not this process's environment: under vitest (VITEST, NODE_ENV=test) the CLI prints nothing.
      env: {
        PATH: process.env.PATH,
        HOME: h.home,
        OPENCLAW_STATE_DIR: state,
        OPENCLAW_CONFIG_PATH: configPath,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.on("exit", (code) => {
      // The JSON document, wherever it starts: a first run may print lines (with braces) before it.
      let json: unknown = null;
      for (let at = out.indexOf("{"); at >= 0 && json === null; at = out.indexOf("{", at + 1)) {
        try {
          json = JSON.parse(out.slice(at));
        } catch {
          // not JSON from here: the assertions print the output
        }
      }
      resolve({ code: code ?? -1, json, output: `${out.slice(0, 3000)}\n${err.slice(-3000)}` });
    });
  });
}

const pluginsConfig = (pluginConfig: unknown) => ({
  load: { paths: [PLUGIN_DIR] },
  slots: { memory: "memory-tribal" },
  entries: {
    "memory-tribal": { enabled: true, config: pluginConfig, hooks: { allowConversationAccess: true } },
  },
});

describe("memory-tribal loaded by OpenClaw's own plugin loader", () => {
  const inspect = (pluginConfig: unknown) =>
    openclaw(["plugins", "inspect", "memory-tribal", "--runtime", "--json"], {
      plugins: pluginsConfig(pluginConfig),
    });
  const runs = Promise.all([
    inspect({ serverUrl: "http://127.0.0.1:18790", maxTokensPerTurn: 900 }),
    inspect({ serverUrl: "http://127.0.0.1:18790", autoRecall: "yes" }),
  ]);

  it("loads as the memory slot's plugin with its hooks, /remember and the tribal_* tools, and no errors", async () => {
    const [{ code, json, output }] = await runs;
    const inspection = json as Inspection | null;
    expect(inspection, `exit ${code}: ${output}`).not.toBeNull();
    expect(inspection?.plugin).toMatchObject({
      id: "memory-tribal",
      status: "loaded",
      kind: "memory",
      memorySlotSelected: true,
      commands: ["remember"],
    });
    expect(inspection?.plugin.source).toBe(join(PLUGIN_DIR, "dist", "index.js"));
    expect(inspection?.plugin.toolNames.sort()).toEqual([
      "tribal_forget",
      "tribal_recall",
      "tribal_remember",
    ]);
    expect(inspection?.typedHooks.map((h) => h.name).sort()).toEqual([
      "agent_end",
      "before_prompt_build",
      "session_end",
    ]);
    expect(inspection?.diagnostics.filter((d) => d.level === "error")).toEqual([]);
  }, 120_000);

  it("a config the manifest's schema refuses stops OpenClaw with the field named", async () => {
    const [, { code, json, output }] = await runs;
    expect(code, output).not.toBe(0);
    const refusal = json as { ok: boolean; issues: { path: string; message: string }[] } | null;
    expect(refusal, `exit ${code}: ${output}`).not.toBeNull();
    expect(refusal?.ok).toBe(false);
    expect(refusal?.issues).toContainEqual({
      path: "plugins.entries.memory-tribal.config.autoRecall",
      message: "invalid config: must be boolean",
    });
  }, 120_000);
});

/** A model server that records each request and answers one chat completion, streamed or plain. */
async function startModelServer(): Promise<{ server: Server; url: string; requests: ModelRequest[] }> {
  const requests: ModelRequest[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      const request = JSON.parse(body || "{}");
      requests.push(request);
      const text = "Fly.io, from main.";
      const usage = { prompt_tokens: 10, completion_tokens: 4, total_tokens: 14 };
      if (!request.stream) {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(
          JSON.stringify({
            id: "c1",
            object: "chat.completion",
            created: 1,
            model: request.model,
            choices: [{ index: 0, message: { role: "assistant", content: text }, finish_reason: "stop" }],
            usage,
          }),
        );
        return;
      }
      const chunk = (choice: unknown, extra = {}) =>
        `data: ${JSON.stringify({ id: "c1", object: "chat.completion.chunk", created: 1, model: request.model, choices: [choice], ...extra })}\n\n`;
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write(chunk({ index: 0, delta: { role: "assistant", content: text }, finish_reason: null }));
      res.write(chunk({ index: 0, delta: {}, finish_reason: "stop" }, { usage }));
      res.end("data: [DONE]\n\n");
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, requests };
}

interface ModelRequest {
  messages: { role: string; content: unknown }[];
}

describe("a real OpenClaw agent turn with memory-tribal", () => {
  const home = tempHome("tm-openclaw-agent-");
  const servers = Promise.all([startTestDaemon(home.home), startModelServer()]);
  // Started at once, beside the inspections above.
  const turn = servers.then(async ([daemon, model]) => {
    await daemon.api.post("/v1/remember", { content: "The billing service deploys to Fly.io from main" });
    const run = await openclaw(
      [
        "agent",
        "--local",
        "--json",
        "--session-id",
        "e2e",
        "-m",
        "How does the billing service deploy? We decided to use Postgres 16 for the ledger.",
      ],
      {
        agents: { defaults: { model: { primary: "local/fake" } } },
        models: {
          mode: "merge",
          providers: {
            local: {
              baseUrl: model.url,
              apiKey: "sk-local",
              api: "openai-completions",
              models: [
                {
                  id: "fake",
                  name: "Fake",
                  reasoning: false,
                  input: ["text"],
                  cost: { input: 0, output: 0, cacheRead: 0, cacheWrite: 0 },
                  contextWindow: 128000,
                  maxTokens: 4096,
                },
              ],
            },
          },
        },
        plugins: pluginsConfig({ serverUrl: daemon.url, home: home.home, minRelevance: 0 }),
      },
    );
    return { ...run, daemon, model };
  });
  afterAll(async () => {
    const [daemon, model] = await servers;
    await new Promise((r) => model.server.close(r));
    await daemon.close();
    home.cleanup();
  });

  it("the model's prompt carries the recalled memory, and the user's decision is stored after the turn", async () => {
    const { code, output, daemon, model } = await turn;
    expect(code, output).toBe(0);
    const prompts = model.requests.flatMap((r) =>
      r.messages.filter((m) => m.role === "user").map((m) => JSON.stringify(m.content)),
    );
    expect(
      prompts.some((p) => p.includes("<tribal-memories>") && p.includes("deploys to Fly.io from main")),
    ).toBe(true);
    const captured = await daemon.api.get<{ memories: { content: string; source_instance: string }[] }>(
      "/v1/memories?tags=auto-capture",
    );
    expect(captured.body.memories).toMatchObject([
      { content: "We decided to use Postgres 16 for the ledger.", source_instance: "openclaw:main" },
    ]);
  }, 180_000);
});
