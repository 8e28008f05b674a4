import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { tribalHome } from "@tribalmemory/shared/config/config";
import {
  type McpEntry,
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
}

export interface InitReport {
  results: (MergeResult & { target: string })[];
  ok: boolean;
}

export const MCP_BIN = fileURLToPath(new URL("../../bin/tribalmemory-mcp.js", import.meta.url));

/** The command every client runs: absolute node and script paths, so no PATH lookup can fail. */
export function mcpEntry(env: NodeJS.ProcessEnv): McpEntry {
  const extra: Record<string, string> = {};
  // A non-default home must reach the MCP server; secrets stay in ~/.tribal-memory/.env.
  if (env.TRIBAL_MEMORY_HOME) extra.TRIBAL_MEMORY_HOME = tribalHome(env);
  return { command: process.execPath, args: [MCP_BIN], ...(Object.keys(extra).length ? { env: extra } : {}) };
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
  const entry = mcpEntry(env);
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
      ...mergeJsonMcpServer(join(home, ".claude.json"), { type: "stdio", ...entry }, options.force === true),
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
      ...mergeCodexToml(join(home, ".codex", "config.toml"), entry, options.force === true),
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
    results.push({
      target: "claude-desktop",
      ...mergeJsonMcpServer(desktopPath, { ...entry }, options.force === true),
    });
  }
  return { results, ok: results.every((r) => r.status !== "unparseable") };
}
