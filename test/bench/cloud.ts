/**
 * `pnpm bench cloud [--workspaces 1000] [--memories 100] [--queries 200]`
 *
 * The relay as a service: many workspaces × memories on one database with recall in one of them
 * as the app role (RLS on). Postgres when TEST_APP_DATABASE_URL/TEST_DATABASE_URL are set (run
 * it under `bash scripts/with-postgres.sh`), else PGlite. Writes bench-results/cloud.json.
 */
import { cpus, loadavg } from "node:os";
import { openDatabase } from "@tribalmemory/sync-server";
import { recallAtScale } from "./_cloud-scale.ts";
import { writeReport } from "./_report.ts";

const args = process.argv.slice(2);
const flag = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? (args[i + 1] ?? fallback) : fallback;
};
const WORKSPACES = Number(flag("workspaces", "1000"));
const MEMORIES = Number(flag("memories", "100"));
const QUERIES = Number(flag("queries", "200"));
const log = (s: string) => process.stdout.write(`${s}\n`);

const databaseUrl = process.env.TEST_APP_DATABASE_URL ?? null;
const adminUrl = process.env.TEST_DATABASE_URL ?? databaseUrl;

async function main() {
  const result: Record<string, unknown> = {
    cores: cpus().length,
    database: databaseUrl ? "postgres" : "pglite",
  };
  const db = await openDatabase(databaseUrl ? { databaseUrl, adminDatabaseUrl: adminUrl } : {});
  try {
    log(`${WORKSPACES} workspaces × ${MEMORIES} memories (${result.database}) …`);
    const scale = await recallAtScale(db, {
      workspaces: WORKSPACES,
      perWorkspace: MEMORIES,
      queries: QUERIES,
      log,
    });
    result.scale = scale;
    log(
      `recall in one workspace of ${WORKSPACES} (${scale.total_memories} memories), role ${scale.role}, RLS ${scale.rls_enforced ? "on" : "OFF"}: p50 ${scale.recall_ms.p50} ms, p95 ${scale.recall_ms.p95} ms (n ${scale.recall_ms.n}); rows from other workspaces: ${scale.results_from_other_workspaces}`,
    );
  } finally {
    await db.close();
  }
  result.load_average = loadavg().map((x) => Math.round(x * 100) / 100);
  writeReport("cloud", result);
}

await main();
