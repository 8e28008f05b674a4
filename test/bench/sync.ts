/**
 * `pnpm bench sync [--database-url URL --admin-database-url URL] [--memories 10000] [--clients 500]`
 *
 * Figures of the relay and sync (real processes on loopback, except ingest which measures the
 * store in-process):
 *   - ingest: changes/s appended to the relay log (Postgres when a URL is given or
 *     TEST_APP_DATABASE_URL is set, else PGlite)
 *   - live propagation: write on daemon A → recallable on daemon B via the relay (p50/p95)
 *   - bootstrap: a new daemon pulls an N-memory workspace (seconds)
 *   - idle sockets: RSS of one relay process holding N idle WebSocket clients
 * Prints the figures and writes bench-results/sync.json; never fails for being slow.
 */

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createMemoryDoc, newActorId } from "@tribalmemory/shared/memory/document";
import { sampleMemory } from "@tribalmemory/shared/testing/sample-memory";
import { createWorkspace, openDatabase, PgMemoryStore } from "@tribalmemory/sync-server";
import WebSocket from "ws";
import {
  api,
  type DaemonProcess,
  freePort,
  type RelayProcess,
  relayDb,
  relayInit,
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

async function main() {
  const dir = tempDir("tm-bench-sync-");
  const procs: (RelayProcess | DaemonProcess)[] = [];
  const result: Record<string, unknown> = { cores: (await import("node:os")).cpus().length };
  try {
    log("ingest …");
    result.ingest = await ingestBench();
    log(JSON.stringify(result.ingest));

    const db = relayDb(join(dir.path, "relay"));
    const { apiKey } = await relayInit(db);
    const relay = await startRelayProcess(db, await freePort());
    procs.push(relay);
    result.database = databaseUrl ? "postgres" : "pglite";
    const [a, b] = await Promise.all([
      startDaemonProcess({ home: join(dir.path, "a"), relayUrl: relay.url, apiKey, instance: "bench@a" }),
      startDaemonProcess({ home: join(dir.path, "b"), relayUrl: relay.url, apiKey, instance: "bench@b" }),
    ]);
    procs.push(a, b);
    const live = async (d: DaemonProcess) =>
      (await d.call<{ state: string }>("GET", "/v1/sync/status")).body.state === "live";
    await waitFor("daemons live", async () => (await live(a)) && (await live(b)), 30_000);

    log("live propagation …");
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
    result.live_propagation_ms = summarize(latencies);
    log(`live propagation ${JSON.stringify(result.live_propagation_ms)}`);

    log(`${CLIENTS} idle sockets …`);
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
    result.idle_sockets = {
      clients: CLIENTS,
      relay_rss_mb_before: before,
      relay_rss_mb_with_clients: after,
      relay_rss_mb_per_client: after && before ? round((after - before) / CLIENTS) : null,
    };
    log(`idle sockets ${JSON.stringify(result.idle_sockets)}`);
    for (const ws of sockets) ws.terminate();
    log(`seeding ${MEMORIES} memories through the relay API …`);
    const seed0 = performance.now();
    for (let i = 0; i < MEMORIES; i += 1000) {
      const memories = Array.from({ length: Math.min(1000, MEMORIES - i) }, (_, j) => ({
        content: `workspace fact ${i + j}: service ${(i + j) % 211} runs on host ${(i + j) % 37}`,
        skip_dedup: true,
      }));
      const r = await api(relay.url, "POST", "/v1/remember/batch", { memories }, apiKey);
      if (r.status >= 300) throw new Error(`seed failed: ${JSON.stringify(r.body)}`);
    }
    const seedS = (performance.now() - seed0) / 1000;
    log(`seeded in ${round(seedS)} s`);

    log("bootstrap …");
    const t0 = performance.now();
    const c = await startDaemonProcess({
      home: join(dir.path, "c"),
      relayUrl: relay.url,
      apiKey,
      instance: "bench@c",
    });
    procs.push(c);
    const started = (performance.now() - t0) / 1000;
    await waitFor(
      "bootstrap",
      async () => {
        const s = (await c.call<{ state: string }>("GET", "/v1/sync/status")).body;
        return s.state === "live";
      },
      300_000,
      50,
    );
    const bootS = (performance.now() - t0) / 1000;
    const health = (await c.call<{ memory_count: number }>("GET", "/v1/health")).body;
    result.bootstrap = {
      memories: health.memory_count,
      seconds: round(bootS),
      daemon_start_s: round(started),
      memories_per_s: Math.round(health.memory_count / bootS),
      relay_seed_seconds: round(seedS),
    };
    log(`bootstrap ${JSON.stringify(result.bootstrap)}`);
  } finally {
    await Promise.all(procs.map((p) => p.kill()));
    dir.remove();
  }
  result.targets = { live_propagation_p50_ms: 200, bootstrap_10k_s: 20, ingest_changes_per_s: 2000 };
  writeReport("sync", result);
  log(JSON.stringify(result, null, 2));
}

await main();
