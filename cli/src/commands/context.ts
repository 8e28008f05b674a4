import { readFileSync } from "node:fs";
import { type DaemonConfig, loadDaemonConfig } from "@tribalmemory/shared/config/config";
import { daemonInfoPath } from "@tribalmemory/shared/config/paths";
import type { Command } from "commander";
import { daemonUrl, TribalClient } from "../client.ts";

/** The program's global options: where the daemon (or relay), its data and its config are. */
export interface GlobalOptions {
  url?: string;
  dataDir?: string;
  config?: string;
}

/**
 * `--api-key` on each memory command (not on the program: a program option would take the
 * flag from `keys` and `init`, which have their own).
 */
export function withApiKeyOption(cmd: Command): Command {
  return cmd.option(
    "--api-key <key>",
    "a relay API key: talk to the relay at --url instead of the local daemon (env TRIBAL_MEMORY_API_KEY with --url or TRIBAL_MEMORY_URL)",
  );
}

/**
 * The config and a client of the server the global options name: the local daemon (its local
 * token), or a relay when an API key is given (`--api-key`, or TRIBAL_MEMORY_API_KEY together
 * with an explicit `--url`/TRIBAL_MEMORY_URL that is not this machine's daemon). The
 * environment's key alone keeps the local daemon: the daemon's own sync reads the same
 * variable, and a relay key sent to a daemon would stand in for its local token and be refused.
 */
export function commandContext(
  program: Command,
  options: { apiKey?: string } = {},
  env: NodeJS.ProcessEnv = process.env,
): {
  config: DaemonConfig;
  client: TribalClient;
  globals: GlobalOptions;
} {
  const globals = program.opts<GlobalOptions>();
  const config = loadDaemonConfig({ dataDir: globals.dataDir, configPath: globals.config });
  const explicitUrl = globals.url ?? (env.TRIBAL_MEMORY_URL || undefined);
  const envKey =
    explicitUrl && !isLocalDaemonUrl(config, explicitUrl) ? env.TRIBAL_MEMORY_API_KEY || null : null;
  const apiKey = options.apiKey ?? envKey;
  if (!apiKey) return { config, client: new TribalClient(daemonUrl(config, globals.url)), globals };
  const relayUrl = explicitUrl ?? config.sync.cloudUrl;
  if (!relayUrl) {
    fail(
      "--api-key is a relay's key: name the relay with --url <https://…> (or TRIBAL_MEMORY_URL, or sync.cloud_url in config.yaml).",
    );
  }
  return { config, client: new TribalClient(relayUrl.replace(/\/$/, ""), apiKey), globals };
}

/** Whether `url` is this machine's daemon: its configured port, or the running one's URL. */
function isLocalDaemonUrl(config: DaemonConfig, url: string): boolean {
  const urls = [`http://127.0.0.1:${config.port}`, `http://localhost:${config.port}`];
  try {
    urls.push((JSON.parse(readFileSync(daemonInfoPath(config.dataDir), "utf8")) as { url: string }).url);
  } catch {
    // no daemon running: the configured port is all there is to compare
  }
  return urls.includes(url.replace(/\/$/, ""));
}

/** `a, b,,c` → `["a", "b", "c"]`: the parser of comma-separated options. */
export const csv = (v: string): string[] =>
  v
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);

/** A line to stdout: strings as they are, anything else as indented JSON. */
export function print(v: unknown): void {
  process.stdout.write(`${typeof v === "string" ? v : JSON.stringify(v, null, 2)}\n`);
}

/** One line to stderr and exit 1: the CLI's way to fail. */
export function fail(message: string): never {
  process.stderr.write(`tribalmemory: ${message}\n`);
  process.exit(1);
}
