/**
 * `pnpm bench quota [--calls 400] [--sizes 1000,50000,250000]`: what enforcing the plans costs
 * per request (sync-server/src/plans/quota.ts). Measures the one statement a recall on a plan
 * with a query limit runs (tm_quota_state), the exact memory count a refusal runs at
 * its limit, the counter read every creating write does (at each plan's limit size; the
 * transaction's BEGIN/scope/COMMIT included), and recall/remember latency through HTTP with
 * quotas on and off. On the test cluster when TEST_APP_DATABASE_URL is set, else PGlite.
 */
import { newActorId } from "@tribalmemory/shared/memory/document";
import { createApiKey, createWorkspace } from "@tribalmemory/sync-server";
import {
  readMemoryQuotaIn,
  readQuotaState,
  recountLiveMemoriesIn,
} from "@tribalmemory/sync-server/store/pg-plans";
import { api, openTestDatabase, startTestRelay } from "@tribalmemory/sync-server/testing";
import { summarize, writeReport } from "./_report.ts";

const args = process.argv.slice(2);
const flag = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const CALLS = Number(flag("calls", "400"));
const SIZES = flag("sizes", "1000,50000,250000").split(",").map(Number);
const log = (s: string) => process.stdout.write(`${s}\n`);

async function timed(n: number, fn: (i: number) => Promise<unknown>) {
  const ms: number[] = [];
  for (let i = 0; i < n + 10; i++) {
    const t = performance.now();
    await fn(i);
    if (i >= 10) ms.push(performance.now() - t);
  }
  return summarize(ms);
}

const db = await openTestDatabase();
const result: Record<string, unknown> = { database: db.kind, calls: CALLS };
try {
  const period = new Date().toISOString().slice(0, 7);
  const { workspaceId } = await createWorkspace(db, { name: "quota-bench" });
  result.quota_state_statement_ms = await timed(CALLS, () => readQuotaState(db, workspaceId, period));
  log(`tm_quota_state (plan + month's recalls + agents): ${JSON.stringify(result.quota_state_statement_ms)}`);

  // The exact count at a plan's limit: rows written straight into the table (the count reads
  // nothing else), so the figure is the count's, not the ingest's.
  const counts: Record<string, unknown> = {};
  const checks: Record<string, unknown> = {};
  for (const size of SIZES) {
    const ws = (await createWorkspace(db, { name: `count-${size}` })).workspaceId;
    const now = new Date().toISOString();
    for (let done = 0; done < size; done += 50_000) {
      await db.tx(ws, (sql) =>
        sql.query(
          `INSERT INTO memories (workspace_id, id, content, content_hash, dedup_key, source_type, source_instance, created_at, updated_at, created_ms, confidence, doc)
           SELECT $1, 'm' || g, 'c' || g, 'h' || g, 'k' || g, 'import', 'bench', $2, $2, g, 1, '\\x00'::bytea
           FROM generate_series($3::int, $4::int) g`,
          [ws, now, done, Math.min(size, done + 50_000) - 1],
        ),
      );
    }
    counts[String(size)] = await timed(Math.max(20, Math.round(CALLS / 10)), () =>
      db.tx(ws, (sql) => recountLiveMemoriesIn(sql, ws)),
    );
    checks[String(size)] = await timed(CALLS, () => db.tx(ws, (sql) => readMemoryQuotaIn(sql, ws)));
    log(`at ${size} memories: exact count (a refusal) ${JSON.stringify(counts[String(size)])}`);
    log(`at ${size} memories: the counter (every creating write) ${JSON.stringify(checks[String(size)])}`);
  }
  result.exact_count_ms = counts;
  result.counter_read_in_tx_ms = checks;

  // Through HTTP: the same Free workspace's recall and remember on a relay with quotas and one without.
  const key = (await createApiKey(db, workspaceId, { name: "bench", scopes: ["write"] })).key;
  const on = await startTestRelay(db);
  const off = await startTestRelay(db, { quotas: false });
  try {
    const http: Record<string, unknown> = {};
    for (const [name, relay] of [
      ["quotas_on", on],
      ["quotas_off", off],
      ["quotas_on_again", on],
    ] as const) {
      const tag = newActorId().slice(0, 6);
      http[name] = {
        recall_ms: await timed(CALLS, () =>
          api(relay.url, "POST", "/v1/recall", { query: "bench note", limit: 5 }, key),
        ),
        remember_ms: await timed(Math.round(CALLS / 4), (i) =>
          api(relay.url, "POST", "/v1/remember", { content: `bench note ${tag} ${i}` }, key),
        ),
      };
      log(`${name}: ${JSON.stringify(http[name])}`);
    }
    result.http = http;
  } finally {
    await on.close();
    await off.close();
  }
  writeReport("quota", result);
} finally {
  await db.close();
}
