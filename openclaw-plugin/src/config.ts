import { existsSync, readFileSync } from "node:fs";
import { z } from "zod";
import { DEFAULT_DAEMON_PORT, daemonInfoFile, tribalHome } from "./daemon-locator.ts";

/**
 * The plugin's config (`plugins.entries.memory-tribal.config` in openclaw.json). OpenClaw checks
 * it against `configSchema` in openclaw.plugin.json before loading; this schema is the one the
 * plugin trusts (defaults, `${ENV}` expansion), and `test/openclaw/config.test.ts` keeps the two
 * in step. Token counts are estimates: 4 characters a token, the usual English average.
 */
export const PluginConfig = z.strictObject({
  /** The daemon (default: the running daemon of `home`, else 127.0.0.1:18790) or, with apiKey, the relay. */
  serverUrl: z.string().trim().min(1).optional(),
  /** A relay API key (`tm_live_…`), sent as `Authorization: Bearer`. `${ENV_VAR}` is expanded. */
  apiKey: z.string().trim().min(1).optional(),
  /** The daemon's home (for its local token and daemon.json); default TRIBAL_MEMORY_HOME or ~/.tribal-memory. */
  home: z.string().trim().min(1).optional(),
  autoRecall: z.boolean().default(true),
  autoCapture: z.boolean().default(true),
  /** Most memory tokens one recall (automatic or the tool) puts into the context. */
  maxTokensPerRecall: z.number().int().min(50).max(20_000).default(600),
  /** Most memory tokens one agent turn receives, automatic recall and tool recalls together. */
  maxTokensPerTurn: z.number().int().min(50).max(50_000).default(1_200),
  /** Most memory tokens one session receives in all; past it, recall stops adding context. */
  maxTokensPerSession: z.number().int().min(50).max(1_000_000).default(8_000),
  recallLimit: z.number().int().min(1).max(50).default(5),
  /** Automatic recall leaves out memories scored below this (0..1). */
  minRelevance: z.number().min(0).max(1).default(0.2),
  /** Durable facts auto-capture stores per turn at most. */
  maxCapturesPerTurn: z.number().int().min(1).max(20).default(3),
  /** `source_instance` of what this plugin writes; default `openclaw:<agent id>`. */
  instance: z.string().trim().min(1).max(200).optional(),
});
export type PluginConfig = z.infer<typeof PluginConfig>;

/** Where and how to reach TribalMemory, resolved from the config and the environment. */
export interface Connection {
  baseUrl: string;
  /** Relay key; null means the local daemon. */
  apiKey: string | null;
  /** The daemon's home, for its local token. */
  home: string;
}

export class PluginConfigError extends Error {
  /** The catalogue's code for a config with mistakes (shared/src/errors.ts). */
  readonly code = "CONFIG_INVALID";
}

/** The config, validated, with defaults; a PluginConfigError that names the field when invalid. */
export function parsePluginConfig(raw: unknown): PluginConfig {
  const parsed = PluginConfig.safeParse(raw ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new PluginConfigError(
      `memory-tribal config: ${issue.path.join(".") || "(root)"}: ${issue.message}. ` +
        "Fix plugins.entries.memory-tribal.config in openclaw.json.",
    );
  }
  return parsed.data;
}

/** `${NAME}` → the environment's value; an unset variable is an error that names it. */
export function expandEnv(value: string, env: NodeJS.ProcessEnv): string {
  return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
    const v = env[name];
    if (v === undefined || v === "") {
      throw new PluginConfigError(
        `memory-tribal config refers to \${${name}}, which is not set in the environment.`,
      );
    }
    return v;
  });
}

export function resolveConnection(config: PluginConfig, env: NodeJS.ProcessEnv = process.env): Connection {
  const home = config.home ? expandEnv(config.home, env) : tribalHome(env);
  const apiKey = config.apiKey ? expandEnv(config.apiKey, env) : null;
  const url = config.serverUrl ? expandEnv(config.serverUrl, env) : null;
  if (apiKey && !url) {
    throw new PluginConfigError(
      "memory-tribal config has apiKey but no serverUrl: set serverUrl to your relay's URL (https://…).",
    );
  }
  const baseUrl = (url ?? runningDaemonUrl(home) ?? `http://127.0.0.1:${DEFAULT_DAEMON_PORT}`).replace(
    /\/+$/,
    "",
  );
  try {
    const u = new URL(baseUrl);
    if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error(u.protocol);
  } catch {
    throw new PluginConfigError(`memory-tribal serverUrl ${JSON.stringify(baseUrl)} is not an http(s) URL.`);
  }
  return { baseUrl, apiKey, home };
}

/** The URL the daemon of this home wrote at start (its port may not be the default). */
function runningDaemonUrl(home: string): string | null {
  const info = daemonInfoFile(home);
  if (!existsSync(info)) return null;
  try {
    const { url } = JSON.parse(readFileSync(info, "utf8")) as { url?: unknown };
    return typeof url === "string" ? url : null;
  } catch {
    return null;
  }
}
