import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse as parseToml } from "smol-toml";
import { claudeDesktopConfigPath, MCP_BIN, runInit } from "tribalmemory/init/agent-setup";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { tempHome } from "./helpers.ts";

const CLI = fileURLToPath(new URL("../../cli/src/tribalmemory.ts", import.meta.url));

describe("tribalmemory init", () => {
  let h: ReturnType<typeof tempHome>;
  beforeEach(() => {
    h = tempHome("tm-init-");
  });
  afterEach(() => h.cleanup());
  const backups = (dir: string, name: string) => readdirSync(dir).filter((f) => f.startsWith(`${name}.bak-`));

  it("merges into ~/.claude.json keeping everything else, with absolute paths and a backup", () => {
    const path = join(h.home, ".claude.json");
    writeFileSync(
      path,
      JSON.stringify({ numStartups: 7, projects: { "/x": {} }, mcpServers: { other: { command: "o" } } }),
      { mode: 0o600 },
    );
    const r = runInit({ claudeCode: true }, h.env);
    expect(r.results[0]).toMatchObject({ target: "claude-code", status: "created" });
    const json = JSON.parse(readFileSync(path, "utf8"));
    expect(json.numStartups).toBe(7);
    expect(json.mcpServers.other).toEqual({ command: "o" });
    expect(json.mcpServers["tribal-memory"]).toMatchObject({
      type: "stdio",
      command: process.execPath,
      args: [MCP_BIN],
    });
    expect(json.mcpServers["tribal-memory"].command.startsWith("/")).toBe(true);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(backups(h.home, ".claude.json")).toHaveLength(1);
    // Idempotent: a second run changes nothing and makes no backup.
    expect(runInit({ claudeCode: true }, h.env).results[0].status).toBe("unchanged");
    expect(backups(h.home, ".claude.json")).toHaveLength(1);
  });

  it("keeps a different entry unless --force", () => {
    const path = join(h.home, ".claude.json");
    writeFileSync(path, JSON.stringify({ mcpServers: { "tribal-memory": { command: "old" } } }));
    expect(runInit({ claudeCode: true }, h.env).results[0].status).toBe("kept");
    expect(JSON.parse(readFileSync(path, "utf8")).mcpServers["tribal-memory"].command).toBe("old");
    expect(runInit({ claudeCode: true, force: true }, h.env).results[0].status).toBe("updated");
    expect(JSON.parse(readFileSync(path, "utf8")).mcpServers["tribal-memory"].command).toBe(process.execPath);
  });

  it("never destroys a file it cannot parse", () => {
    const claude = join(h.home, ".claude.json");
    const toml = join(h.home, ".codex", "config.toml");
    mkdirSync(join(h.home, ".codex"));
    writeFileSync(claude, "{ this is not json");
    writeFileSync(toml, "model = = broken");
    const r = runInit({ claudeCode: true, codex: true }, h.env);
    expect(r.ok).toBe(false);
    expect(r.results.map((x) => x.status)).toEqual(["unparseable", "unparseable"]);
    expect(readFileSync(claude, "utf8")).toBe("{ this is not json");
    expect(readFileSync(toml, "utf8")).toBe("model = = broken");
  });

  it("adds [mcp_servers.tribal-memory] to Codex's TOML, keeping comments and other servers", () => {
    const path = join(h.home, ".codex", "config.toml");
    mkdirSync(join(h.home, ".codex"));
    writeFileSync(
      path,
      '# mine\nmodel = "o3"\n\n[mcp_servers.other]\ncommand = "x"\n\n[mcp_servers.tribal-memory]\ncommand = "stale"\n',
    );
    expect(runInit({ codex: true }, h.env).results[0].status).toBe("kept");
    expect(runInit({ codex: true, force: true }, h.env).results[0].status).toBe("updated");
    const text = readFileSync(path, "utf8");
    expect(text.startsWith('# mine\nmodel = "o3"')).toBe(true);
    const doc = parseToml(text) as {
      model: string;
      mcp_servers: Record<string, { command: string; args?: string[] }>;
    };
    expect(doc.model).toBe("o3");
    expect(doc.mcp_servers.other.command).toBe("x");
    expect(doc.mcp_servers["tribal-memory"]).toMatchObject({ command: process.execPath, args: [MCP_BIN] });
    expect(text.match(/\[mcp_servers\.tribal-memory\]/g)).toHaveLength(1);
  });

  it("configures Claude Desktop at its platform path", () => {
    const r = runInit({ claudeDesktop: true }, h.env, "darwin");
    const path = claudeDesktopConfigPath(h.env, "darwin");
    expect(path).toContain(join("Library", "Application Support", "Claude"));
    expect(r.results[0].status).toBe("created");
    expect(JSON.parse(readFileSync(path, "utf8")).mcpServers["tribal-memory"].args).toEqual([MCP_BIN]);
  });

  it("adds the auto-capture block once", () => {
    mkdirSync(join(h.home, ".claude"));
    writeFileSync(join(h.home, ".claude", "CLAUDE.md"), "# My rules\n- be terse\n");
    runInit({ claudeCode: true, codex: true, autoCapture: true }, h.env);
    runInit({ claudeCode: true, codex: true, autoCapture: true }, h.env);
    const md = readFileSync(join(h.home, ".claude", "CLAUDE.md"), "utf8");
    expect(md.startsWith("# My rules\n- be terse\n")).toBe(true);
    expect(md.match(/<!-- tribal-memory:auto-capture -->/g)).toHaveLength(1);
    expect(readFileSync(join(h.home, ".codex", "AGENTS.md"), "utf8")).toContain("tribal_recall");
  });

  it("CLI: --cloud stores URL and key in ~/.tribal-memory/.env with mode 600", () => {
    const out = execFileSync(
      process.execPath,
      [
        CLI,
        "init",
        "--cloud",
        "--url",
        "https://relay.example.com/",
        "--api-key",
        "tm_live_secret",
        "--claude-code",
        // No relay answers at relay.example.com; test/relay/relay-cli.test.ts covers the check.
        "--no-verify",
      ],
      { env: h.env, encoding: "utf8" },
    );
    expect(out).toContain("claude-code");
    expect(out).not.toContain("tm_live_secret");
    const envPath = join(h.tribalHome, ".env");
    expect(statSync(envPath).mode & 0o777).toBe(0o600);
    expect(readFileSync(envPath, "utf8")).toBe(
      "TRIBAL_MEMORY_CLOUD_URL=https://relay.example.com\nTRIBAL_MEMORY_API_KEY=tm_live_secret\n",
    );
    // No terminal and no key: a clear refusal.
    const r = spawnSync(process.execPath, [CLI, "init", "--cloud"], {
      env: h.env,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("--api-key");
  });

  it("CLI: service install|status|uninstall writes a systemd unit or a launchd plist", () => {
    const run = (...args: string[]) =>
      execFileSync(process.execPath, [CLI, "service", ...args], { env: h.env, encoding: "utf8" });
    run("install", "--no-start", "--platform", "linux");
    const unit = join(h.home, ".config", "systemd", "user", "tribalmemoryd.service");
    const text = readFileSync(unit, "utf8");
    expect(text).toContain(`ExecStart=${process.execPath} `);
    expect(text).toContain("tribalmemoryd.ts");
    expect(text).toContain(`Environment=TRIBAL_MEMORY_HOME=${h.tribalHome}`);
    expect(JSON.parse(run("status", "--json", "--platform", "linux"))).toMatchObject({
      installed: true,
      kind: "systemd",
    });
    run("uninstall", "--no-start", "--platform", "linux");
    expect(existsSync(unit)).toBe(false);
    run("install", "--no-start", "--platform", "darwin");
    const plist = readFileSync(
      join(h.home, "Library", "LaunchAgents", "com.tribalmemory.daemon.plist"),
      "utf8",
    );
    expect(plist).toContain("<string>com.tribalmemory.daemon</string>");
    expect(plist).toContain(`<string>${process.execPath}</string>`);
  });
});
