import type { Command } from "commander";
import { dbOptions, failCleanly, type RelayDbOptions, relayOptions, withDb } from "./relay-options.ts";

/** A URL with its password masked, for output. */
function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "(database URL)";
  }
}

/**
 * `tribalmemory relay migrate`: the schema only, as the owner, then exit; what a deployment runs
 * before `relay start --no-migrate` serves as the app role (deploy/entrypoint.sh).
 */
export function registerRelayMigrateCommand(relay: Command): void {
  withDb(relay.command("migrate"))
    .description(
      "create or upgrade the relay schema, as the owner (--admin-database-url), and grant the app role of --database-url; idempotent",
    )
    .action(async (_o: unknown, cmd: Command) => {
      try {
        const { opts, config } = relayOptions<RelayDbOptions>(cmd);
        const db = dbOptions(opts, config);
        const { migrateSchema } = await import("@tribalmemory/sync-server");
        const report = await migrateSchema(db);
        const where = db.adminDatabaseUrl ? redactUrl(db.adminDatabaseUrl) : db.dataDir;
        process.stdout.write(
          `${JSON.stringify({ database: where, applied: report.applied, schema_versions: report.versions })}\n`,
        );
      } catch (err) {
        failCleanly(err);
      }
    });
}
