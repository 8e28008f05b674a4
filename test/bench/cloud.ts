/**
 * `pnpm bench cloud [--runs 3] [--calls 2000] [--workspaces 1000] [--memories 100] [--queries 200]`
 *
 * The relay as a service: signup → first key → first synced memory, end to end through the API
 * with a real daemon process; what the quota check adds to a request (µs); and many workspaces ×
 * memories on one database with recall in one of them as the app role (RLS on). Postgres when
 * TEST_APP_DATABASE_URL/TEST_DATABASE_URL are set (run it under `bash scripts/with-postgres.sh`),
 * else PGlite. Writes bench-results/cloud.json.
 */
import { cpus, loadavg } from "node:os";
import { createWorkspace, openDatabase } from "@tribalmemory/sync-server";
import { onboarding, quotaCheckCost } from "./_cloud-onboarding.ts";
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
const RUNS = Number(flag("runs", "3"));
const CALLS = Number(flag("calls", "2000"));
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
    log(`signup → first key → first synced memory (${RUNS} runs) …`);
    const first = await onboarding(db, RUNS, log);
    result.onboarding = first;
    log(
      `onboarding p50: signup ${first.signup_ms.p50} ms, first key ${first.first_key_ms.p50} ms, daemon start+live ${first.daemon_start_and_live_ms.p50} ms, remember → relay recall ${first.remember_to_relay_recall_ms.p50} ms; total ${first.total_ms.p50} ms`,
    );
    const free = await createWorkspace(db, { name: "quota-free" });
    const pro = await createWorkspace(db, { name: "quota-pro" });
    const quota = await quotaCheckCost(db, { free: free.workspaceId, pro: pro.workspaceId }, CALLS);
    result.quota_check = quota;
    log(
      `quota check p50: recall on Free ${quota.recall_on_free_us.p50} µs (one statement), on Pro ${quota.recall_on_pro_cached_us.p50} µs (cached plan), a known agent ${quota.known_agent_us.p50} µs`,
    );
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
