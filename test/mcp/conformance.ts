import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "vitest";
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
export const SCENARIOS = ["server-initialize", "ping", "tools-list", "dns-rebinding-protection"];

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

/**
 * Every scenario against `target`'s /mcp through a proxy adding `headers`; each check must
 * succeed. Returns the scenarios and their check counts.
 */
export async function expectConformance(target: string, headers: Record<string, string>): Promise<void> {
  const proxy = await headerProxy(target, headers);
  try {
    await expectScenarios(`${proxy.url}/mcp`);
  } finally {
    await proxy.close();
  }
}

async function expectScenarios(url: string): Promise<void> {
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
