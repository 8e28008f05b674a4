import { type DaemonConfig, loadDaemonConfig } from "@tribalmemory/shared/config/config";
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
 * with an explicit `--url`/TRIBAL_MEMORY_URL). The environment's key alone keeps the local
 * daemon: the daemon's own sync reads the same variable, and its key means nothing to a daemon.
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
  const apiKey = options.apiKey ?? (explicitUrl ? env.TRIBAL_MEMORY_API_KEY || null : null);
  if (!apiKey) return { config, client: new TribalClient(daemonUrl(config, globals.url)), globals };
  const relayUrl = explicitUrl ?? config.sync.cloudUrl;
  if (!relayUrl) {
    fail(
      "--api-key is a relay's key: name the relay with --url <https://…> (or TRIBAL_MEMORY_URL, or sync.cloud_url in config.yaml).",
    );
  }
  return { config, client: new TribalClient(relayUrl.replace(/\/$/, ""), apiKey), globals };
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
