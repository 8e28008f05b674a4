import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { readLocalToken } from "@tribalmemory/shared/config/local-token";
import { afterAll, describe, expect, it } from "vitest";
import { runInit } from "../../cli/src/init/agent-setup.ts";
import { startTestDaemon, tempHome } from "../helpers/daemon.ts";
import { freePort } from "../helpers/relay-process.ts";
import { httpTransport } from "./helpers.ts";

describe("tribalmemory init --mcp http", () => {
  const home = tempHome("tm-init-http-");
  let daemon: Awaited<ReturnType<typeof startTestDaemon>> | undefined;
  afterAll(async () => {
    await daemon?.close();
    home.cleanup();
  });

  it("writes the HTTP form for Claude Code and Codex, and a client connects with the entry as written", async () => {
    const port = await freePort();
    const env = {
      HOME: home.home,
      TRIBAL_MEMORY_HOME: join(home.home, ".tribal-memory"),
      TRIBAL_MEMORY_PORT: String(port),
      PATH: "",
    };
    const report = runInit({ claudeCode: true, codex: true, mcp: "http" }, env, "linux");
    expect(report.results.map((r) => [r.target, r.status])).toEqual([
      ["claude-code", "created"],
      ["codex", "created"],
    ]);
    const token = readLocalToken(env.TRIBAL_MEMORY_HOME);
    expect(token).toBeTruthy();
    const claude = JSON.parse(readFileSync(join(home.home, ".claude.json"), "utf8")).mcpServers[
      "tribal-memory"
    ];
    expect(claude).toEqual({
      type: "http",
      url: `http://127.0.0.1:${port}/mcp`,
      headers: { Authorization: `Bearer ${token}` },
    });
    const codex = readFileSync(join(home.home, ".codex", "config.toml"), "utf8");
    expect(codex).toContain(`url = "http://127.0.0.1:${port}/mcp"`);
    expect(codex).toContain(`http_headers = { Authorization = "Bearer ${token}" }`);

    // The daemon that starts later on this home and port takes the token init created.
    daemon = await startTestDaemon(env.TRIBAL_MEMORY_HOME, { port });
    const client = new Client({ name: "claude-code", version: "1.0.0" });
    await client.connect(httpTransport(claude.url.replace(/\/mcp$/, ""), claude.headers));
    expect((await client.listTools()).tools).toHaveLength(10);
    await client.close();
  }, 60_000);

  it("with --cloud, the relay's /mcp with the API key", () => {
    const env = {
      HOME: join(home.home, "cloud"),
      TRIBAL_MEMORY_HOME: join(home.home, "cloud", ".tm"),
      PATH: "",
    };
    runInit(
      { claudeCode: true, mcp: "http", cloud: true, url: "https://relay.example/", apiKey: "tm_live_abc" },
      env,
      "linux",
    );
    const claude = JSON.parse(readFileSync(join(env.HOME, ".claude.json"), "utf8")).mcpServers[
      "tribal-memory"
    ];
    expect(claude).toEqual({
      type: "http",
      url: "https://relay.example/mcp",
      headers: { Authorization: "Bearer tm_live_abc" },
    });
  });
});
