import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { type DaemonConfig, loadDaemonConfig, tribalHome } from "@tribalmemory/shared/config/config";
import { TribalError } from "@tribalmemory/shared/errors";
import type { Command } from "commander";

/** Where the relay's database is: the options of `relay init|start|migrate`. */
export interface RelayDbOptions {
  dataDir?: string;
  databaseUrl?: string;
  adminDatabaseUrl?: string;
  config?: string;
}

export const expand = (p: string) => resolve(p.replace(/^~(?=$|\/)/, homedir()));

/** An empty variable (`VAR=` in a compose file or a unit) is unset, not an empty URL. */
const envVar = (name: string) => process.env[name] || undefined;

/**
 * The command's options with the program's: `-d/--data-dir` and `-c/--config` also exist on
 * the program, and commander hands a flag written after `relay init` to the program, so
 * `relay init --data-dir X` used to leave X unread. Flags > environment > config file > defaults.
 */
export function relayOptions<T extends RelayDbOptions>(cmd: Command): { opts: T; config: DaemonConfig } {
  const opts = cmd.optsWithGlobals<T>();
  const config = loadDaemonConfig({ configPath: opts.config });
  return { opts, config };
}

/** The database to open: a PostgreSQL URL (`db.uri`, `relay.database_url`), else a PGlite folder. */
export function dbOptions(opts: RelayDbOptions, config: DaemonConfig) {
  const file = config.relay;
  const databaseUrl = opts.databaseUrl ?? envVar("TRIBAL_MEMORY_DATABASE_URL") ?? file.database_url ?? null;
  const dataDir = opts.dataDir ?? file.data_dir;
  return {
    databaseUrl,
    adminDatabaseUrl:
      opts.adminDatabaseUrl ??
      envVar("TRIBAL_MEMORY_ADMIN_DATABASE_URL") ??
      file.admin_database_url ??
      databaseUrl,
    dataDir: databaseUrl ? null : dataDir ? expand(dataDir) : join(tribalHome(), "relay"),
  };
}

/** A coded failure (bad config, locked folder, unreachable database …) is one message, no stack. */
export function failCleanly(err: unknown): never {
  if (err instanceof TribalError) {
    process.stderr.write(`tribalmemory relay: ${err.code}: ${err.message}\n`);
    process.exit(err.code === "DATA_DIR_LOCKED" ? 3 : 1);
  }
  throw err;
}

export const withDb = (cmd: Command) =>
  cmd
    .option(
      "--data-dir <dir>",
      "embedded database folder (PGlite) when no --database-url (default ~/.tribal-memory/relay); locked while in use",
    )
    .option(
      "--database-url <url>",
      "PostgreSQL URL the relay connects with (env TRIBAL_MEMORY_DATABASE_URL, config db.uri)",
    )
    .option(
      "--admin-database-url <url>",
      "URL that runs migrations, e.g. the owner (env TRIBAL_MEMORY_ADMIN_DATABASE_URL, config db.admin_uri; default: --database-url)",
    )
    .option(
      "--config <file>",
      "config file: db, server, auth and relay: keys (env TRIBAL_MEMORY_CONFIG; default ~/.tribal-memory/config.yaml)",
    );
