import { accessSync, constants, existsSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { loadDaemonConfig, tribalHome } from "@tribalmemory/shared/config/config";
import { runtimeModulePath } from "@tribalmemory/shared/config/install-layout";
import { ensureLocalToken } from "@tribalmemory/shared/config/local-token";
import {
  type McpEntry,
  type McpHttpEntry,
  type MergeResult,
  mergeCodexToml,
  mergeDotEnv,
  mergeInstructionBlock,
  mergeJsonMcpServer,
} from "./config-files.ts";

/** `tribalmemory init`: what to configure. */
export interface InitOptions {
  claudeCode?: boolean;
  codex?: boolean;
  claudeDesktop?: boolean;
  cloud?: boolean;
  apiKey?: string;
  url?: string;
  autoCapture?: boolean;
  force?: boolean;
  /** `http`: Claude Code and Codex connect to `/mcp` by URL instead of starting tribalmemory-mcp. */
  mcp?: "stdio" | "http";
}

export interface InitReport {
  results: (MergeResult & { target: string })[];
  ok: boolean;
}

/** The MCP server's script: `dist/tribalmemory-mcp.js` in the package, the source in a checkout. */
export const MCP_BIN = runtimeModulePath(new URL("../tribalmemory-mcp.ts", import.meta.url));

/** The bin the spec's client entries name; `npm install -g tribalmemory` puts it on PATH. */
export const MCP_COMMAND = "tribalmemory-mcp";

/**
 * The command every client runs: the spec's `"command": "tribalmemory-mcp"` when that bin is on
 * PATH (an installed package), else absolute node and script paths (a checkout), so no PATH lookup
 * can fail.
 */
export function mcpEntry(env: NodeJS.ProcessEnv, platform: NodeJS.Platform = process.platform): McpEntry {
  const extra: Record<string, string> = {};
  // A non-default home must reach the MCP server; secrets stay in ~/.tribal-memory/.env.
  if (env.TRIBAL_MEMORY_HOME) extra.TRIBAL_MEMORY_HOME = tribalHome(env);
  const command = findOnPath(MCP_COMMAND, env, platform)
    ? { command: MCP_COMMAND, args: [] }
    : { command: process.execPath, args: [MCP_BIN] };
  return { ...command, ...(Object.keys(extra).length ? { env: extra } : {}) };
}

/**
 * `init --mcp http`: the relay's `/mcp` with the API key (with --cloud), else the local daemon's
 * with its local token (created now if the daemon never ran), which /mcp asks for even on
 * loopback. The client config then holds that secret, as it would an API key: files of mode 600.
 */
export function mcpHttpEntry(options: InitOptions, env: NodeJS.ProcessEnv): McpHttpEntry {
  if (options.cloud && options.url && options.apiKey) {
    return {
      url: `${options.url.replace(/\/$/, "")}/mcp`,
      headers: { Authorization: `Bearer ${options.apiKey}` },
    };
  }
  const config = loadDaemonConfig({}, env);
  return {
    url: `http://127.0.0.1:${config.port}/mcp`,
    headers: { Authorization: `Bearer ${ensureLocalToken(config.home)}` },
  };
}

/** The first executable `name` in `env.PATH` (with PATHEXT's suffixes on Windows), or null. */
export function findOnPath(name: string, env: NodeJS.ProcessEnv, platform = process.platform): string | null {
  const windows = platform === "win32";
  const suffixes = windows ? (env.PATHEXT ?? ".EXE;.CMD;.BAT").split(";") : [""];
  for (const dir of (env.PATH ?? env.Path ?? "").split(windows ? ";" : ":")) {
    if (!dir) continue;
    for (const suffix of suffixes) {
      const candidate = join(dir, name + suffix);
      try {
        if (statSync(candidate).isFile()) {
          if (!windows) accessSync(candidate, constants.X_OK);
          return candidate;
        }
      } catch {
        // not here, or not executable: keep looking
      }
    }
  }
  return null;
}

export function homeOf(env: NodeJS.ProcessEnv): string {
  return env.HOME ?? env.USERPROFILE ?? homedir();
}

export function claudeDesktopConfigPath(
  env: NodeJS.ProcessEnv,
  platform: NodeJS.Platform = process.platform,
): string {
  const home = homeOf(env);
  if (platform === "darwin")
    return join(home, "Library", "Application Support", "Claude", "claude_desktop_config.json");
  if (platform === "win32")
    return join(env.APPDATA ?? join(home, "AppData", "Roaming"), "Claude", "claude_desktop_config.json");
  return join(env.XDG_CONFIG_HOME ?? join(home, ".config"), "Claude", "claude_desktop_config.json");
}

export const AUTO_CAPTURE_INSTRUCTIONS = `
## TribalMemory (shared memory)

You have TribalMemory tools (tribal_*), a memory shared with the user's other agents and machines.

- **Recall first.** Before answering about past decisions, conventions, preferences, people, or
  project facts, call \`tribal_recall\` with a short query. Use \`sources: "all"\` to search past
  session transcripts too.
- **Remember what lasts.** When the user states a preference, makes a decision, or you learn a
  durable project fact (a path, a command, a convention, a fix that worked), call
  \`tribal_remember\` with one self-contained sentence and a few tags. Use
  \`source_type: "user_explicit"\` when the user asked you to remember.
- **Correct, don't duplicate.** When a remembered fact changed, call \`tribal_correct\` with its
  memory_id. Never store secrets, API keys or passwords.
`;

/**
 * Configure the selected clients. Without any client flag, the clients found on this machine
 * are configured (Claude Code, Codex, Claude Desktop).
 */
export function runInit(
  options: InitOptions,
  env: NodeJS.ProcessEnv = process.env,
  platform = process.platform,
): InitReport {
  const home = homeOf(env);
  const results: InitReport["results"] = [];
  const entry = mcpEntry(env, platform);
  const http = options.mcp === "http" ? mcpHttpEntry(options, env) : null;
  const desktopPath = claudeDesktopConfigPath(env, platform);
  const anyClient = options.claudeCode || options.codex || options.claudeDesktop;
  const want = {
    claudeCode:
      options.claudeCode ||
      (!anyClient && (existsSync(join(home, ".claude.json")) || existsSync(join(home, ".claude")))),
    codex: options.codex || (!anyClient && existsSync(join(home, ".codex"))),
    claudeDesktop: options.claudeDesktop || (!anyClient && existsSync(desktopPath)),
  };

  if (options.cloud) {
    const values: Record<string, string> = {};
    if (options.url) values.TRIBAL_MEMORY_CLOUD_URL = options.url.replace(/\/$/, "");
    if (options.apiKey) values.TRIBAL_MEMORY_API_KEY = options.apiKey;
    results.push({ target: "cloud", ...mergeDotEnv(join(tribalHome(env), ".env"), values) });
  }
  if (want.claudeCode) {
    results.push({
      target: "claude-code",
      ...mergeJsonMcpServer(
        join(home, ".claude.json"),
        http ? { type: "http", ...http } : { type: "stdio", ...entry },
        options.force === true,
      ),
    });
    if (options.autoCapture) {
      results.push({
        target: "claude-code instructions",
        ...mergeInstructionBlock(
          join(home, ".claude", "CLAUDE.md"),
          AUTO_CAPTURE_INSTRUCTIONS,
          options.force === true,
        ),
      });
    }
  }
  if (want.codex) {
    results.push({
      target: "codex",
      ...mergeCodexToml(join(home, ".codex", "config.toml"), http ?? entry, options.force === true),
    });
    if (options.autoCapture) {
      results.push({
        target: "codex instructions",
        ...mergeInstructionBlock(
          join(home, ".codex", "AGENTS.md"),
          AUTO_CAPTURE_INSTRUCTIONS,
          options.force === true,
        ),
      });
    }
  }
  if (want.claudeDesktop) {
    // Claude Desktop takes remote servers in its Connectors settings, not this file: stdio here.
    results.push({
      target: "claude-desktop",
      ...mergeJsonMcpServer(desktopPath, { ...entry }, options.force === true),
    });
  }
  return { results, ok: results.every((r) => r.status !== "unparseable") };
}
