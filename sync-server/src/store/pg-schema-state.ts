import type { RelayDatabase } from "./database.ts";

/**
 * The schema versions the database holds (`schema_migrations`, written by migrate()), for
 * readiness: a relay whose build expects a migration the database lacks must not get traffic.
 * The app role can read the table (migrate grants SELECT on every table to it).
 */
export async function appliedMigrationVersions(db: RelayDatabase): Promise<number[]> {
  const rows = await db.statement<{ version: number }>(
    "SELECT version FROM schema_migrations ORDER BY version",
  );
  return rows.map((r) => Number(r.version));
}
