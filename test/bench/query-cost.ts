/**
 * `pnpm bench query-cost [--memories 100000] [--queries 200] [--warmup 200] [--remembers 100] [--build-only]`
 *
 * The query's own cost, end to end: a real `tribalmemoryd` process with the default offline
 * model (USE-lite) over a data folder of N memories, measured over HTTP.
 *  - recall p50/p95 with the query embedding: cold cache (every query new) and warm (the same
 *    queries again, answered from the daemon's query-embedding cache). Before them, `--warmup`
 *    other queries read the data as a daemon that has been answering does (SQLite's page cache
 *    and the OS's start empty: 80 random rows cost 1.2 ms to check for visibility at first,
 *    0.14 ms once read); the measured queries' embeddings are still new to the daemon;
 *  - the model's own cost for the same query texts (the same USE-lite worker in this process,
 *    interleaved with the recalls so both see the same machine load);
 *  - the search cost excluding the embedding (the daemon's `retrieval.search_ms`);
 *  - remember p50/p95 beside the model's own cost for the same texts, and their ratio;
 *  - in process, remember with the row written while the model runs against model-then-row,
 *    with USE-lite and with a 40 ms model that uses no CPU (on a loaded machine two threads
 *    rarely run at once, which hides what the overlap saves where a core is free).
 *
 * The data folder is built once (bench-results/cache/query-cost-<N>.db): synthetic texts with
 * clustered 512-d vectors labelled as USE-lite's, so the daemon starts without re-embedding
 * N memories (search cost depends on the vectors' count and shape, not on who made them).
 */
import { spawn } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import os, { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { SqliteMemoryStore } from "@tribalmemory/daemon/store/sqlite-store";
import { USE_LITE_MODEL_ID } from "@tribalmemory/shared/embed/use-lite";
import { createWorkerEmbedder, type WorkerEmbedder } from "@tribalmemory/shared/embed/worker-host";
import { contentHash, dedupKey } from "@tribalmemory/shared/memory/content";
import { createMemoryDoc, newActorId, saveMemoryDoc } from "@tribalmemory/shared/memory/document";
import { MemoryService } from "@tribalmemory/shared/service/memory-service";
import type { StoreWrite } from "@tribalmemory/shared/store/memory-store";
import { request } from "undici";
import { loadMemories } from "../eval/dataset.ts";
import { queryFor, rng, syntheticCorpus, syntheticMemory } from "./_corpus.ts";
import { summarize, writeReport } from "./_report.ts";

const { values: args } = parseArgs({
  options: {
    memories: { type: "string", default: "100000" },
    queries: { type: "string", default: "200" },
    remembers: { type: "string", default: "100" },
    warmup: { type: "string", default: "200" },
    "build-only": { type: "boolean", default: false },
  },
});
const N = Number(args.memories);
const QUERIES = Number(args.queries);
const REMEMBERS = Number(args.remembers);
const DIMS = 512;
const cacheDir = join(process.cwd(), "bench-results", "cache");
mkdirSync(cacheDir, { recursive: true });
const log = (s: string) => process.stdout.write(`${s}\n`);

// ------------------------------------------------------------------ the data folder, built once

/**
 * The data folder (cached): rows, documents, changes, keyword index, entities and vectors
 * written straight through the store, thousands per transaction; built in a temporary folder
 * and renamed when complete, so an interrupted build is never taken for a finished one.
 */
async function buildDataDir(size: number): Promise<string> {
  const dir = join(cacheDir, `query-cost-${size}`);
  if (existsSync(join(dir, "memories.db"))) return dir;
  const tmp = `${dir}.building`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const corpus = syntheticCorpus(size, DIMS);
  const store = new SqliteMemoryStore({ path: join(tmp, "memories.db"), readWorker: false });
  const actor = newActorId();
  const started = performance.now();
  await store.setEmbeddingModel(USE_LITE_MODEL_ID, DIMS);
  for (let from = 0; from < size; from += 5000) {
    const writes: StoreWrite[] = [];
    for (let i = from; i < Math.min(size, from + 5000); i++) {
      const text = corpus.texts[i];
      const created = createMemoryDoc(syntheticMemory(i, text), actor);
      writes.push({
        memory: created.memory,
        dedupKey: dedupKey(text),
        change: created.change,
        docBytes: saveMemoryDoc(created.doc),
        embedding: { modelId: USE_LITE_MODEL_ID, contentHash: contentHash(text), vector: corpus.vectors[i] },
      });
    }
    store.writeSync(writes, "local");
    const done = from + writes.length;
    if (done % 20_000 < 5000 || done === size)
      log(`  building ${size}: ${done} (${Math.round((performance.now() - started) / 1000)} s)`);
  }
  store.db.exec("DELETE FROM outbox"); // as if synced: nothing waits to be pushed
  await store.close();
  renameSync(tmp, dir);
  return dir;
}

const sourceDir = await buildDataDir(N);
if (args["build-only"]) process.exit(0);

// ------------------------------------------------------------------ the daemon, a real process

interface DaemonProc {
  url: string;
  pid: number;
  stop: () => Promise<void>;
}

async function startDaemonProcess(home: string, dataDir: string): Promise<DaemonProc> {
  writeFileSync(
    join(home, "config.yaml"),
    `data_dir: ${dataDir}\nserver:\n  port: 0\nembedding:\n  provider: offline\n`,
  );
  const bin = fileURLToPath(new URL("../../cli/src/tribalmemoryd.ts", import.meta.url));
  const child = spawn(process.execPath, [bin], {
    env: { ...process.env, TRIBAL_MEMORY_HOME: home, TRIBAL_MEMORY_LOG_LEVEL: "warn" },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const info = join(dataDir, "daemon.json");
  const deadline = Date.now() + 600_000; // 100k memories on a loaded machine: the index loads first
  while (!existsSync(info)) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`daemon did not start: ${stderr}`);
    await sleep(100);
  }
  const { url } = JSON.parse(readFileSync(info, "utf8")) as { url: string };
  for (;;) {
    const h = await getJson<Health>(url, "/v1/health");
    // A folder of an older release re-extracts its entities in the background: measured after.
    if (h.entity_index?.state === "reindexing") {
      await sleep(200);
      continue;
    }
    if (h.embedding.status === "ready" && !h.embedding.backfill?.total) break;
    if (
      h.embedding.status === "ready" &&
      h.embedding.backfill &&
      h.embedding.backfill.done >= h.embedding.backfill.total
    )
      break;
    if (h.embedding.status === "failed") throw new Error(`model failed: ${JSON.stringify(h.embedding)}`);
    if (Date.now() > deadline) throw new Error("model did not load in time");
    await sleep(200);
  }
  return {
    url,
    pid: child.pid as number,
    stop: async () => {
      child.kill("SIGTERM");
      await new Promise((r) => child.once("exit", r));
    },
  };
}

interface Health {
  memory_count: number;
  entity_index?: { state: string };
  embedding: {
    status: string;
    backfill: { done: number; total: number } | null;
    stats?: {
      queries: number;
      query_model_calls: number;
      query_cache: { hits: number; misses: number; entries: number; bytes: number };
      worker: {
        requests: number;
        cold_requests: number;
        warmup_runs: number;
        warmup_ms: number;
        keep_warm_runs: number;
      } | null;
    };
  };
}

interface RecallAnswer {
  results: unknown[];
  retrieval: { lists: string[]; embed_ms: number; search_ms: number };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function getJson<T>(url: string, path: string): Promise<T> {
  const res = await request(`${url}${path}`);
  const text = await res.body.text();
  if (res.statusCode >= 400) throw new Error(`${path}: ${res.statusCode} ${text.slice(0, 300)}`);
  return JSON.parse(text) as T;
}

async function postJson<T>(url: string, path: string, body: unknown): Promise<{ ms: number; body: T }> {
  const t = performance.now();
  const res = await request(`${url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await res.body.text();
  const ms = performance.now() - t;
  if (res.statusCode >= 400) throw new Error(`${path}: ${res.statusCode} ${text.slice(0, 300)}`);
  return { ms, body: JSON.parse(text) as T };
}

async function timeEmbed(model: WorkerEmbedder, text: string, kind: "query" | "passage"): Promise<number> {
  const t = performance.now();
  await model.embed([text], kind);
  return performance.now() - t;
}

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Math.round(Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 102.4) / 10;
}

/** English text of about 200 characters, cut from the labelled set's memories. */
const englishPool = loadMemories().map((m) => m.content.replace(/\s+/g, " "));
function text200(random: () => number): string {
  let s = "";
  while (s.length < 200) s += `${englishPool[Math.floor(random() * englishPool.length)]} `;
  const cut = s.slice(0, 200);
  return cut.slice(0, Math.max(cut.lastIndexOf(" "), 150)).trim();
}

/**
 * The same remembers in this process, over a fresh SQLite store each, with the row written while
 * the model runs (the daemon's way now) and after it (before): what the overlap itself saves,
 * without HTTP, texts alternating between the two so both see the same load.
 */
async function rememberInProcess(textRandom: () => number, embedder: WorkerEmbedder, count: number) {
  const dir = mkdtempSync(join(tmpdir(), "tm-bench-remember-"));
  const services = [true, false].map((vectorsAfterRows) => {
    const store = new SqliteMemoryStore({ path: join(dir, `${vectorsAfterRows}.db`) });
    const service = new MemoryService({ store, actor: newActorId(), instanceId: "bench", vectorsAfterRows });
    return { store, service };
  });
  const lat = { rowsFirst: [] as number[], vectorFirst: [] as number[], model: [] as number[] };
  try {
    for (const { service } of services)
      await service.setEmbedder({
        provider: embedder,
        calibration: { floor: 0.2, ceiling: 0.7, weight: 0.5 },
        dedupCosine: null,
      });
    for (let i = 0; i < count + 10; i++) {
      const t = `${text200(textRandom)} [${i}]`;
      const m = await timeEmbed(embedder, t, "passage");
      const order = i % 2 ? [1, 0] : [0, 1];
      const times = [0, 0];
      for (const k of order) {
        const start = performance.now();
        await services[k].service.remember({ content: t, source_type: "auto_capture" });
        times[k] = performance.now() - start;
      }
      if (i < 10) continue; // warm-up
      lat.rowsFirst.push(times[0]);
      lat.vectorFirst.push(times[1]);
      lat.model.push(m);
    }
  } finally {
    for (const { store } of services) await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return {
    rowsFirst: summarize(lat.rowsFirst),
    vectorFirst: summarize(lat.vectorFirst),
    model: summarize(lat.model),
  };
}

// ------------------------------------------------------------------ the run

const home = mkdtempSync(join(tmpdir(), "tm-bench-query-cost-"));
const dataDir = join(home, "data");
mkdirSync(dataDir);
for (const f of ["memories.db", "memories.db.vectors"])
  if (existsSync(join(sourceDir, f))) copyFileSync(join(sourceDir, f), join(dataDir, f));
const random = rng(7);
const corpus = syntheticCorpus(N, DIMS);
const queryTexts = (n: number) =>
  Array.from({ length: n }, () => queryFor(corpus, Math.floor(random() * N), random).text);
const warmQueries = [...new Set(queryTexts(Number(args.warmup) + 1))];
const queries = [...new Set(queryTexts(QUERIES * 2))]
  .filter((q) => !warmQueries.includes(q))
  .slice(0, QUERIES);
// The model's own cost: the same USE-lite worker the daemon runs, in this process.
const model = await createWorkerEmbedder({
  moduleUrl: new URL("../../shared/src/embed/use-lite.ts", import.meta.url),
  options: {},
});
let daemon: DaemonProc | null = null;
try {
  const started = performance.now();
  daemon = await startDaemonProcess(home, dataDir);
  const startupMs = Math.round(performance.now() - started);
  const atStart = await getJson<Health>(daemon.url, "/v1/health");
  log(
    `daemon up in ${startupMs} ms with ${atStart.memory_count} memories; worker ${JSON.stringify(atStart.embedding.stats?.worker)}`,
  );
  const url = daemon.url;
  const recall = (query: string) => postJson<RecallAnswer>(url, "/v1/recall", { query, limit: 10 });

  const firstRecall = await recall(warmQueries[0]);
  for (const q of warmQueries.slice(1)) {
    await recall(q);
    await timeEmbed(model, q, "query");
  }

  // Cold cache: every query new to the daemon. The model alone on the same text, just before.
  const modelQueryMs: number[] = [];
  const coldMs: number[] = [];
  const coldEmbedMs: number[] = [];
  const coldSearchMs: number[] = [];
  for (const q of queries) {
    modelQueryMs.push(await timeEmbed(model, q, "query"));
    const r = await recall(q);
    coldMs.push(r.ms);
    coldEmbedMs.push(r.body.retrieval.embed_ms);
    coldSearchMs.push(r.body.retrieval.search_ms);
  }
  // Warm cache: the same queries again, their vectors cached.
  const warmMs: number[] = [];
  const warmSearchMs: number[] = [];
  for (const q of queries) {
    const r = await recall(q);
    warmMs.push(r.ms);
    warmSearchMs.push(r.body.retrieval.search_ms);
  }

  // Remember: ~200-character English texts; the model alone on the same text, just before.
  const textRandom = rng(11);
  for (let i = 0; i < 10; i++) {
    const t = `warm up ${i} ${text200(textRandom)}`;
    await timeEmbed(model, t, "passage");
    await postJson(url, "/v1/remember", { content: t });
  }
  const modelPassageMs: number[] = [];
  const rememberMs: number[] = [];
  const pairRatios: number[] = [];
  for (let i = 0; i < REMEMBERS; i++) {
    const t = `${text200(textRandom)} (${i})`;
    const m = await timeEmbed(model, t, "passage");
    const r = await postJson(url, "/v1/remember", { content: t });
    modelPassageMs.push(m);
    rememberMs.push(r.ms);
    pairRatios.push(r.ms / m);
  }
  const atEnd = await getJson<Health>(url, "/v1/health");
  const rss = rssMiB(daemon.pid);
  await daemon.stop();
  daemon = null;
  const inProcess = await rememberInProcess(textRandom, model, REMEMBERS);
  const sleeping = await createWorkerEmbedder({
    moduleUrl: new URL("./_sleeping-model.ts", import.meta.url),
    options: { ms: 40 },
  });
  const inProcessSleeping = await rememberInProcess(textRandom, sleeping, REMEMBERS).finally(() =>
    sleeping.close(),
  );

  const s = {
    model_query: summarize(modelQueryMs),
    recall_cold: summarize(coldMs),
    recall_cold_daemon_embed: summarize(coldEmbedMs),
    recall_cold_daemon_search: summarize(coldSearchMs),
    recall_warm: summarize(warmMs),
    recall_warm_daemon_search: summarize(warmSearchMs),
    model_passage: summarize(modelPassageMs),
    remember: summarize(rememberMs),
  };
  const ratio = Math.round((s.remember.p50 / s.model_passage.p50) * 100) / 100;
  const pairRatio = summarize(pairRatios).p50;
  const row = (name: string, v: { p50: number; p95: number }, bound: string) =>
    log(`${name.padEnd(44)} ${v.p50.toFixed(1).padStart(7)} ${v.p95.toFixed(1).padStart(7)}   ${bound}`);
  log(
    `\nquery cost at ${atStart.memory_count} memories, USE-lite, over HTTP (${os.cpus().length} cores, load ${os.loadavg()[0].toFixed(1)})`,
  );
  log(`${"".padEnd(44)} ${"p50 ms".padStart(7)} ${"p95 ms".padStart(7)}   bound`);
  row(
    "recall, cold cache (query embedded)",
    s.recall_cold,
    `model ${s.model_query.p50.toFixed(1)} + search ${s.recall_warm_daemon_search.p50.toFixed(1)} (target p50 ≤ 20)`,
  );
  row("  of which the daemon's query embedding", s.recall_cold_daemon_embed, "the model alone, below");
  row("  model alone, same query texts", s.model_query, "USE-lite in a worker, this process");
  row(
    "  search time beyond the embedding",
    s.recall_cold_daemon_search,
    "warm search below: less = keyword search overlapped",
  );
  row("recall, warm cache (same queries again)", s.recall_warm, "search below + HTTP");
  row(
    "  keyword + vector search, no embedding",
    s.recall_warm_daemon_search,
    "the daemon's retrieval.search_ms",
  );
  row(
    "remember (~200 chars)",
    s.remember,
    `model alone ${s.model_passage.p50.toFixed(1)}: ratio ${ratio} (per pair ${pairRatio}; target ≤ 1.1)`,
  );
  row("  model alone, same texts", s.model_passage, "USE-lite in a worker, this process");
  row("in process: remember, row while the model runs", inProcess.rowsFirst, "model alone, below");
  row("in process: remember, model then row (before)", inProcess.vectorFirst, "model alone, below");
  row("  model alone, same texts", inProcess.model, "the same worker");
  row("in process, 40 ms model using no CPU: row while", inProcessSleeping.rowsFirst, "model alone, below");
  row("  model then row (before)", inProcessSleeping.vectorFirst, "model alone, below");
  row("  model alone", inProcessSleeping.model, "a timer in a worker");
  log(
    `first recall after start: ${firstRecall.ms.toFixed(1)} ms, then ${warmQueries.length - 1} other queries before the measured ones; worker at end ${JSON.stringify(atEnd.embedding.stats?.worker)}`,
  );
  log(`query cache at end ${JSON.stringify(atEnd.embedding.stats?.query_cache)}; daemon RSS ${rss} MiB`);
  writeReport("query-cost", {
    memories: atStart.memory_count,
    model: USE_LITE_MODEL_ID,
    cpus: os.cpus().length,
    load_average: os.loadavg(),
    warmup_queries: warmQueries.length,
    startup_ms: startupMs,
    first_recall_after_start_ms: Math.round(firstRecall.ms * 10) / 10,
    ...s,
    remember_over_model_ratio_p50: ratio,
    remember_over_model_ratio_per_pair_p50: pairRatio,
    in_process_remember: inProcess,
    in_process_remember_40ms_model_without_cpu: inProcessSleeping,
    health_at_start: atStart.embedding.stats,
    health_at_end: atEnd.embedding.stats,
    daemon_rss_mib: rss,
    targets: { recall_cold_p50_ms: 20, remember_over_model_ratio: 1.1 },
  });
} finally {
  await daemon?.stop();
  await model.close();
  rmSync(home, { recursive: true, force: true });
}
