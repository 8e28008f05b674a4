/**
 * `pnpm bench sync [--database-url URL --admin-database-url URL] [--memories 10000] [--clients 500]
 *   [--replay] [--only ingest,propagation,idle,bootstrap,prune]`
 *
 * Figures of the relay and sync (real processes on loopback, except ingest which measures the
 * store in-process):
 *   - ingest: changes/s appended to the relay log (Postgres when a URL is given or
 *     TEST_APP_DATABASE_URL is set, else PGlite)
 *   - live propagation: write on daemon A → recallable on daemon B via the relay (p50/p95)
 *   - idle sockets: RSS of one relay process holding N idle WebSocket clients
 *   - bootstrap: a new daemon pulls an N-memory workspace (seconds) by snapshot + tail, and with
 *     `--replay` also by replaying every change; beside the bound, the same daemon writing N
 *     memories locally (`POST /v1/remember/batch`, no relay)
 *   - prune: the relay's `changes` rows before and after pruning past every device's cursor
 * Prints the figures and writes bench-results/sync.json; never fails for being slow.
 */

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createHashingProvider } from "@tribalmemory/shared/embed/hashing";
import { contentHash } from "@tribalmemory/shared/memory/content";
import { createMemoryDoc, newActorId } from "@tribalmemory/shared/memory/document";
import { sampleMemory } from "@tribalmemory/shared/testing/sample-memory";
import { createWorkspace, openDatabase, PgMemoryStore, pruneWorkspaceLog } from "@tribalmemory/sync-server";
import WebSocket from "ws";
import {
  api,
  type DaemonProcess,
  freePort,
  type RelayProcess,
  relayDb,
  relayInit,
  relayPlan,
  sleep,
  startDaemonProcess,
  startRelayProcess,
  tempDir,
  waitFor,
} from "../sync/harness.ts";
import { summarize, writeReport } from "./_report.ts";

const args = process.argv.slice(2);
const flag = (name: string, fallback?: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const databaseUrl = flag("database-url", process.env.TEST_APP_DATABASE_URL);
const adminUrl = flag("admin-database-url", process.env.TEST_DATABASE_URL ?? databaseUrl);
if (databaseUrl) {
  process.env.TEST_APP_DATABASE_URL = databaseUrl;
  process.env.TEST_DATABASE_URL = adminUrl;
}
const MEMORIES = Number(flag("memories", "10000"));
const CLIENTS = Number(flag("clients", "500"));
const INGEST = Number(flag("ingest", "6000"));
const WRITES = Number(flag("writes", "40"));
const REPLAY = args.includes("--replay");
const ONLY = new Set((flag("only", "ingest,propagation,idle,bootstrap,prune") as string).split(","));
const log = (s: string) => process.stdout.write(`${s}\n`);
const rssMb = (pid: number) => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Math.round(Number(m[1]) / 1024) : null;
};

async function ingestBench() {
  const db = await openDatabase(databaseUrl ? { databaseUrl, adminDatabaseUrl: adminUrl } : {});
  try {
    const { workspaceId } = await createWorkspace(db, { name: "bench" });
    const store = new PgMemoryStore(db, workspaceId, { actor: newActorId() });
    const actor = newActorId();
    const changes = Array.from({ length: INGEST }, (_, i) => {
      return createMemoryDoc(
        sampleMemory({
          content: `bench fact ${i} about subsystem ${i % 97}`,
          source_instance: "bench",
          tags: ["bench"],
        }),
        actor,
      ).change;
    });
    const t0 = performance.now();
    for (let i = 0; i < changes.length; i += 500)
      await store.ingest(
        changes.slice(i, i + 500).map((change) => ({ change })),
        "bench",
      );
    const s = (performance.now() - t0) / 1000;
    return {
      database: db.kind,
      changes: INGEST,
      batch: 500,
      seconds: round(s),
      changes_per_s: Math.round(INGEST / s),
    };
  } finally {
    await db.close();
  }
}

const round = (x: number) => Math.round(x * 100) / 100;

type Procs = (RelayProcess | DaemonProcess)[];

/** Write on daemon A, recall on daemon B through the relay, WRITES times. */
async function propagationBench(a: DaemonProcess, b: DaemonProcess) {
  const latencies: number[] = [];
  for (let i = 0; i < WRITES; i++) {
    const token = `zq${i}x${Math.random().toString(36).slice(2, 8)}`;
    const t0 = performance.now();
    await a.call("POST", "/v1/remember", { content: `propagation probe ${token}` });
    await waitFor(
      "propagation",
      async () => {
        const r = await b.call<{ results: unknown[] }>("GET", `/v1/recall?q=${token}&limit=1`);
        return r.body.results.length > 0;
      },
      10_000,
      2,
    );
    latencies.push(performance.now() - t0);
    await sleep(20);
  }
  return summarize(latencies);
}

/** RSS of the relay holding CLIENTS caught-up sockets. */
async function idleSocketsBench(relay: RelayProcess, apiKey: string) {
  const pid = relay.proc.pid as number;
  // Idle clients that are already caught up say hello with the relay's head as cursor.
  let head = 0;
  for (;;) {
    const page = await api<{ cursor: number; more: boolean }>(
      relay.url,
      "POST",
      "/v1/sync/pull",
      { cursor: head },
      apiKey,
    );
    head = page.body.cursor;
    if (!page.body.more) break;
  }
  const before = rssMb(pid);
  const sockets: WebSocket[] = [];
  let lives = 0;
  for (let i = 0; i < CLIENTS; i++) {
    const ws = new WebSocket(`${relay.url.replace("http", "ws")}/v1/sync`, {
      headers: { authorization: `Bearer ${apiKey}` },
    });
    ws.on("message", (d) => {
      const m = JSON.parse(d.toString()) as { type: string; cursor?: number };
      if (m.type === "changes") ws.send(JSON.stringify({ type: "applied", cursor: m.cursor }));
      if (m.type === "live") lives++;
    });
    ws.on("error", () => undefined);
    ws.on("open", () =>
      ws.send(
        JSON.stringify({
          type: "hello",
          protocol: 1,
          device: `idle-${i}`,
          actor: newActorId(),
          cursor: head,
        }),
      ),
    );
    sockets.push(ws);
    if (i % 50 === 49) await sleep(50);
  }
  await waitFor("sockets live", async () => lives >= CLIENTS, 120_000, 100);
  await sleep(1000);
  const after = rssMb(pid);
  for (const ws of sockets) ws.terminate();
  return {
    clients: CLIENTS,
    relay_rss_mb_before: before,
    relay_rss_mb_with_clients: after,
    relay_rss_mb_per_client: after && before ? round((after - before) / CLIENTS) : null,
  };
}

const seedContent = (i: number) => `workspace fact ${i}: service ${i % 211} runs on host ${i % 37}`;

/** N memories written through the relay's API, 1,000 per request. */
async function seedRelay(relay: RelayProcess, apiKey: string): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < MEMORIES; i += 1000) {
    const memories = Array.from({ length: Math.min(1000, MEMORIES - i) }, (_, j) => ({
      content: seedContent(i + j),
      skip_dedup: true,
    }));
    const r = await api(relay.url, "POST", "/v1/remember/batch", { memories }, apiKey);
    if (r.status >= 300) throw new Error(`seed failed: ${JSON.stringify(r.body)}`);
  }
  return (performance.now() - t0) / 1000;
}

/**
 * N memories ingested into the relay's store in-process (Postgres: the relay process serves the
 * same database), 500 per transaction, each with the vector the relay's and the daemons' hashing
 * model gives, as a daemon's push would carry it: seconds instead of minutes through the API's
 * remember path, so a 10k run stays small.
 */
async function seedRelayStore(workspaceId: string): Promise<number> {
  const db = await openDatabase({ databaseUrl, adminDatabaseUrl: adminUrl });
  const t0 = performance.now();
  try {
    const store = new PgMemoryStore(db, workspaceId, { actor: newActorId() });
    const embedder = createHashingProvider();
    const actor = newActorId();
    for (let i = 0; i < MEMORIES; i += 500) {
      const contents = Array.from({ length: Math.min(500, MEMORIES - i) }, (_, j) => seedContent(i + j));
      const vectors = await embedder.embed(contents, "passage");
      const items = contents.map((content, j) => ({
        change: createMemoryDoc(sampleMemory({ content, source_instance: "bench@seed" }), actor).change,
        embedding: { modelId: embedder.modelId, contentHash: contentHash(content), vector: vectors[j] },
      }));
      const out = await store.ingest(items, "bench-seed");
      if (out.error) throw out.error;
    }
  } finally {
    await db.close();
  }
  return (performance.now() - t0) / 1000;
}

/** A new daemon joins the workspace: seconds from its start until it is live with every memory. */
async function bootstrapOnce(
  home: string,
  relay: RelayProcess,
  apiKey: string,
  procs: Procs,
  mode: "snapshot" | "replay",
) {
  const t0 = performance.now();
  const c = await startDaemonProcess({
    home,
    relayUrl: relay.url,
    apiKey,
    instance: `bench@${mode}`,
    env: mode === "replay" ? { TRIBAL_MEMORY_SYNC_SNAPSHOT: "0" } : {},
  });
  procs.push(c);
  const started = (performance.now() - t0) / 1000;
  await waitFor(
    `bootstrap by ${mode}`,
    async () => (await c.call<{ state: string }>("GET", "/v1/sync/status")).body.state === "live",
    600_000,
    50,
  );
  const seconds = (performance.now() - t0) / 1000;
  const health = (await c.call<{ memory_count: number }>("GET", "/v1/health")).body;
  return {
    memories: health.memory_count,
    seconds: round(seconds),
    daemon_start_s: round(started),
    /** From the daemon answering health to live: the sync itself. */
    sync_s: round(seconds - started),
    memories_per_s: Math.round(health.memory_count / seconds),
  };
}

/** The bound: the same daemon, no relay, writing N memories locally in batches of 1,000. */
async function localWriteBound(home: string, procs: Procs) {
  const d = await startDaemonProcess({ home, relayUrl: "", apiKey: "", instance: "bench@local" });
  procs.push(d);
  const t0 = performance.now();
  for (let i = 0; i < MEMORIES; i += 1000) {
    const memories = Array.from({ length: Math.min(1000, MEMORIES - i) }, (_, j) => ({
      content: seedContent(i + j),
      skip_dedup: true,
    }));
    const r = await d.call("POST", "/v1/remember/batch", { memories });
    if (r.status >= 300) throw new Error(`local write failed: ${JSON.stringify(r.body)}`);
  }
  const seconds = (performance.now() - t0) / 1000;
  await d.kill();
  return { memories: MEMORIES, seconds: round(seconds), memories_per_s: Math.round(MEMORIES / seconds) };
}

/** Rows of the relay's `changes` table before and after one pruning run (every device caught up). */
async function pruneBench(workspaceId: string) {
  const db = await openDatabase(databaseUrl ? { databaseUrl, adminDatabaseUrl: adminUrl } : { dataDir: "" });
  try {
    const count = async () =>
      Number(
        (
          await db.tx(workspaceId, (sql) =>
            sql.query<{ n: string }>("SELECT count(*)::text AS n FROM changes WHERE workspace_id = $1", [
              workspaceId,
            ]),
          )
        )[0].n,
      );
    const before = await count();
    const t0 = performance.now();
    let pruned = 0;
    for (;;) {
      const pass = await pruneWorkspaceLog(db, workspaceId, { staleDeviceMs: 3_600_000, keepMs: 0 });
      pruned += pass.deleted;
      if (!pass.more) break;
    }
    const seconds = (performance.now() - t0) / 1000;
    return { changes_before: before, changes_after: await count(), pruned, seconds: round(seconds) };
  } finally {
    await db.close();
  }
}

/** The figures beside what bounds them, one row each. */
function printTable(result: Record<string, unknown>) {
  const rows: [string, string, string][] = [];
  const b = result.bootstrap as
    | {
        snapshot: { seconds: number; sync_s: number };
        replay: { seconds: number; sync_s: number } | null;
        bound_local_write: { seconds: number };
      }
    | undefined;
  if (b) {
    rows.push([
      `bootstrap ${MEMORIES} by snapshot + tail`,
      `${b.snapshot.seconds} s`,
      `sync ${b.snapshot.sync_s} s after start`,
    ]);
    if (b.replay)
      rows.push([
        `bootstrap ${MEMORIES} by replay`,
        `${b.replay.seconds} s`,
        `sync ${b.replay.sync_s} s after start`,
      ]);
    rows.push([
      `bound: the daemon writing ${MEMORIES} itself`,
      `${b.bound_local_write.seconds} s`,
      "POST /v1/remember/batch",
    ]);
  }
  const p = result.prune as { changes_before: number; changes_after: number; seconds: number } | undefined;
  if (p && typeof p === "object")
    rows.push([
      "relay changes rows before → after pruning",
      `${p.changes_before} → ${p.changes_after}`,
      `${p.seconds} s`,
    ]);
  const lp = result.live_propagation_ms as { p50: number; p95: number } | undefined;
  if (lp) rows.push(["live propagation A → B", `p50 ${lp.p50} ms`, `p95 ${lp.p95} ms`]);
  const width = Math.max(...rows.map((r) => r[0].length), 10);
  log(`load average ${(result.load_average as number[]).join(" ")} on ${result.cores} cores`);
  for (const [what, figure, beside] of rows) log(`${what.padEnd(width)}  ${figure.padStart(14)}  ${beside}`);
}

async function main() {
  const dir = tempDir("tm-bench-sync-");
  const procs: Procs = [];
  const result: Record<string, unknown> = {
    cores: (await import("node:os")).cpus().length,
    load_average: (await import("node:os")).loadavg().map(round),
  };
  try {
    if (ONLY.has("ingest")) {
      log("ingest …");
      result.ingest = await ingestBench();
      log(JSON.stringify(result.ingest));
    }
    const db = relayDb(join(dir.path, "relay"));
    const { apiKey, workspaceId } = await relayInit(db);
    // The Free plan stops at 1,000 memories.
    await relayPlan(db, workspaceId, "team");
    const relay = await startRelayProcess(db, await freePort());
    procs.push(relay);
    result.database = databaseUrl ? "postgres" : "pglite";
    if (ONLY.has("propagation") || ONLY.has("idle")) {
      const [a, b] = await Promise.all([
        startDaemonProcess({ home: join(dir.path, "a"), relayUrl: relay.url, apiKey, instance: "bench@a" }),
        startDaemonProcess({ home: join(dir.path, "b"), relayUrl: relay.url, apiKey, instance: "bench@b" }),
      ]);
      procs.push(a, b);
      const live = async (d: DaemonProcess) =>
        (await d.call<{ state: string }>("GET", "/v1/sync/status")).body.state === "live";
      await waitFor("daemons live", async () => (await live(a)) && (await live(b)), 30_000);
      if (ONLY.has("propagation")) {
        log("live propagation …");
        result.live_propagation_ms = await propagationBench(a, b);
        log(`live propagation ${JSON.stringify(result.live_propagation_ms)}`);
      }
      if (ONLY.has("idle")) {
        log(`${CLIENTS} idle sockets …`);
        result.idle_sockets = await idleSocketsBench(relay, apiKey);
        log(`idle sockets ${JSON.stringify(result.idle_sockets)}`);
      }
    }
    if (ONLY.has("bootstrap") || ONLY.has("prune")) {
      log(
        `seeding ${MEMORIES} memories ${databaseUrl ? "into the relay's store" : "through the relay API"} …`,
      );
      const seedS = databaseUrl ? await seedRelayStore(workspaceId) : await seedRelay(relay, apiKey);
      log(`seeded in ${round(seedS)} s`);
      if (ONLY.has("bootstrap")) {
        log("bound: the daemon writing them locally …");
        const bound = await localWriteBound(join(dir.path, "local"), procs);
        log(`local write ${JSON.stringify(bound)}`);
        log("bootstrap by snapshot + tail …");
        const snapshot = await bootstrapOnce(join(dir.path, "snap"), relay, apiKey, procs, "snapshot");
        log(`snapshot ${JSON.stringify(snapshot)}`);
        let replay: Awaited<ReturnType<typeof bootstrapOnce>> | null = null;
        if (REPLAY) {
          log("bootstrap by replaying every change …");
          replay = await bootstrapOnce(join(dir.path, "replay"), relay, apiKey, procs, "replay");
          log(`replay ${JSON.stringify(replay)}`);
        }
        result.bootstrap = {
          memories: MEMORIES,
          relay_seed_seconds: round(seedS),
          snapshot,
          replay,
          bound_local_write: bound,
          snapshot_over_bound: round(snapshot.seconds / bound.seconds),
        };
      }
      if (ONLY.has("prune") && databaseUrl) {
        log("pruning the relay's change log …");
        result.prune = await pruneBench(workspaceId);
        log(`prune ${JSON.stringify(result.prune)}`);
      } else if (ONLY.has("prune")) {
        result.prune = "skipped: needs --database-url (PGlite is held by the relay process)";
      }
    }
  } finally {
    await Promise.all(procs.map((p) => p.kill()));
    dir.remove();
  }
  result.targets = {
    live_propagation_p50_ms: 200,
    bootstrap_10k_s: 5,
    ingest_changes_per_s: 2000,
  };
  writeReport("sync", result);
  printTable(result);
}

await main();
