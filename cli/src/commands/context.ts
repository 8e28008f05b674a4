import { type DaemonConfig, loadDaemonConfig } from "@tribalmemory/shared/config/config";
import type { Command } from "commander";
import { daemonUrl, TribalClient } from "../client.ts";

/** The program's global options: where the daemon, its data and its config are. */
export interface GlobalOptions {
  url?: string;
  dataDir?: string;
  config?: string;
}

/** The config and a client of the daemon that the global options (--url, -d, -c) name. */
export function commandContext(program: Command): {
  config: DaemonConfig;
  client: TribalClient;
  globals: GlobalOptions;
} {
  const globals = program.opts<GlobalOptions>();
  const config = loadDaemonConfig({ dataDir: globals.dataDir, configPath: globals.config });
  return { config, client: new TribalClient(daemonUrl(config, globals.url)), globals };
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
