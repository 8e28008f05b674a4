import { createInterface } from "node:readline/promises";
import type { Command } from "commander";
import { ApiError, TribalClient } from "../client.ts";
import { type InitOptions, runInit } from "../init/agent-setup.ts";

/**
 * Ask the relay before storing its URL and key: it answers /v1/health as a relay (not a
 * daemon), and accepts the key on an authenticated route. A wrong key or URL found now costs a
 * line; found later it is a daemon that silently never syncs.
 */
export async function verifyRelay(url: string, apiKey: string): Promise<string | null> {
  const client = new TribalClient(url.replace(/\/$/, ""), apiKey);
  try {
    const health = await client.call<{ relay?: boolean; workspace_id?: string }>("GET", "/v1/health");
    if (health?.relay !== true) {
      return `${url} answers, but it is not a TribalMemory relay (a daemon?). Pass the relay's URL.`;
    }
    await client.call("GET", "/v1/stats");
    return null;
  } catch (err) {
    if (err instanceof ApiError) {
      if (err.status === 401 || err.status === 403)
        return `the relay at ${url} refused the API key: ${err.code}: ${err.message}`;
      return `${err.code}: ${err.message}`;
    }
    return `${url}: ${(err as Error).message}`;
  }
}

/** `tribalmemory init`: wire agents (Claude Code, Codex, Claude Desktop) and the relay to TribalMemory. */
export function registerInitCommand(program: Command): void {
  program
    .command("init")
    .description(
      "configure agents to use TribalMemory (MCP entries, optional cloud relay and auto-capture instructions)",
    )
    .option("--claude-code", "add the MCP server to ~/.claude.json")
    .option("--codex", "add the MCP server to ~/.codex/config.toml")
    .option("--claude-desktop", "add the MCP server to Claude Desktop's config")
    .option(
      "--cloud",
      "use a TribalMemory relay: store its URL and API key in ~/.tribal-memory/.env (mode 600)",
    )
    .option("--api-key <key>", "relay API key (with --cloud; prompted for when missing)")
    .option("--url <url>", "relay URL (with --cloud; prompted for when missing)")
    .option("--no-verify", "with --cloud: store the URL and key without asking the relay first")
    .option(
      "--auto-capture",
      "add remember/recall instructions to ~/.claude/CLAUDE.md and ~/.codex/AGENTS.md",
    )
    .option(
      "--mcp <transport>",
      "stdio (default): agents start tribalmemory-mcp; http: Claude Code and Codex connect to /mcp by URL (the daemon's, or the relay's with --cloud)",
    )
    .option("--force", "replace an existing, different tribal-memory entry or instruction block")
    .option("--json", "print the report as JSON")
    .action(async (opts: InitOptions & { json?: boolean; verify?: boolean }, command: Command) => {
      // The program's own --url (daemon URL) takes the flag first; here it means the relay.
      opts.url ??= command.optsWithGlobals<{ url?: string }>().url;
      if (opts.mcp !== undefined && opts.mcp !== "stdio" && opts.mcp !== "http") {
        process.stderr.write(`tribalmemory: --mcp is stdio or http, not ${JSON.stringify(opts.mcp)}\n`);
        process.exit(2);
      }
      if (opts.cloud && (!opts.url || !opts.apiKey)) {
        if (!process.stdin.isTTY) {
          process.stderr.write("tribalmemory: --cloud needs --url and --api-key (no terminal to ask on)\n");
          process.exit(2);
        }
        const rl = createInterface({ input: process.stdin, output: process.stderr });
        opts.url ??= (await rl.question("Relay URL: ")).trim();
        opts.apiKey ??= (await rl.question("API key (tm_live_…): ")).trim();
        rl.close();
        if (!opts.url || !opts.apiKey) {
          process.stderr.write("tribalmemory: a relay URL and an API key are both needed\n");
          process.exit(2);
        }
      }
      if (opts.url) {
        try {
          new URL(opts.url);
        } catch {
          process.stderr.write(`tribalmemory: --url is not a URL: ${opts.url}\n`);
          process.exit(2);
        }
      }
      if (opts.cloud && opts.url && opts.apiKey && opts.verify !== false) {
        const problem = await verifyRelay(opts.url, opts.apiKey);
        if (problem) {
          process.stderr.write(
            `tribalmemory: ${problem}\nNothing was written. Fix the URL or key, or pass --no-verify to store them anyway.\n`,
          );
          process.exit(1);
        }
      }
      const report = runInit(opts);
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      } else if (!report.results.length) {
        process.stdout.write(
          "No agent found to configure. Pass --claude-code, --codex or --claude-desktop.\n",
        );
      } else {
        for (const r of report.results) {
          process.stdout.write(
            `${r.status.padEnd(11)} ${r.target.padEnd(26)} ${r.path}: ${r.message}${r.backup ? ` (backup: ${r.backup})` : ""}\n`,
          );
        }
        if (report.results.some((r) => r.status === "created" || r.status === "updated")) {
          process.stdout.write("Restart the agents to load the tribal-memory MCP server.\n");
        }
      }
      if (!report.ok) process.exitCode = 1;
    });
}
