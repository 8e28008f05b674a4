import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { readLocalToken } from "@tribalmemory/shared/config/local-token";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestDaemon, tempHome } from "../helpers/daemon.ts";
import { useTestRelay, workspaceKey } from "../helpers/relay.ts";
import { headerProxy } from "./header-proxy.ts";

/**
 * The official MCP conformance suite (`@modelcontextprotocol/conformance server --url …`)
 * against the real `/mcp` of a daemon and of a relay: the scenarios that apply to a server with
 * tools and no logging, resources or prompts. The CLI sends no credentials, so it goes through
 * a loopback proxy that adds the local token or the API key (header-proxy.ts) and passes Host
 * and Origin untouched — the DNS-rebinding scenario's forged headers reach the real guard.
 */
const CONFORMANCE = fileURLToPath(
  new URL("../../node_modules/@modelcontextprotocol/conformance/dist/index.js", import.meta.url),
);
const SCENARIOS = ["server-initialize", "ping", "tools-list", "dns-rebinding-protection"];

interface Check {
  id: string;
  status: string;
  errorMessage?: string;
}

/** One scenario: the CLI's exit code and every check it wrote to checks.json. */
async function runScenario(url: string, scenario: string): Promise<{ code: number | null; checks: Check[] }> {
  const out = mkdtempSync(join(tmpdir(), "tm-conformance-"));
  try {
    const code = await new Promise<number | null>((resolve) => {
      const p = spawn(
        process.execPath,
        [CONFORMANCE, "server", "--url", url, "--scenario", scenario, "-o", out],
        {
          stdio: "ignore",
        },
      );
      p.on("exit", resolve);
    });
    const checks: Check[] = [];
    for (const dir of readdirSync(out)) {
      checks.push(...(JSON.parse(readFileSync(join(out, dir, "checks.json"), "utf8")) as Check[]));
    }
    return { code, checks };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

async function expectConformance(url: string): Promise<void> {
  const results = await Promise.all(
    SCENARIOS.map(async (s) => ({ scenario: s, ...(await runScenario(url, s)) })),
  );
  for (const r of results) {
    const failed = r.checks.filter((c) => c.status !== "SUCCESS");
    expect(failed, `${r.scenario}: ${JSON.stringify(failed)}`).toEqual([]);
    expect(r.checks.length, `${r.scenario} ran no checks`).toBeGreaterThan(0);
    expect(r.code, r.scenario).toBe(0);
  }
}

describe("MCP conformance: the daemon's /mcp", () => {
  const home = tempHome("tm-mcp-conf-");
  let daemon: Awaited<ReturnType<typeof startTestDaemon>>;
  let proxy: Awaited<ReturnType<typeof headerProxy>>;

  beforeAll(async () => {
    daemon = await startTestDaemon(home.home);
    proxy = await headerProxy(daemon.url, { "x-tribal-token": readLocalToken(home.home) ?? "" });
  }, 60_000);
  afterAll(async () => {
    await proxy?.close();
    await daemon?.close();
    home.cleanup();
  });

  it(`passes ${SCENARIOS.join(", ")}`, async () => {
    await expectConformance(`${proxy.url}/mcp`);
  }, 90_000);
});

describe("MCP conformance: the relay's /mcp with a workspace key", () => {
  let proxy: Awaited<ReturnType<typeof headerProxy>>;
  useTestRelay(async (db, relay) => {
    const { key } = await workspaceKey(db, "conformance", ["write"]);
    proxy = await headerProxy(relay.url, { authorization: `Bearer ${key}` });
  });
  afterAll(async () => {
    await proxy?.close();
  });

  it(`passes ${SCENARIOS.join(", ")}`, async () => {
    await expectConformance(`${proxy.url}/mcp`);
  }, 90_000);
});
