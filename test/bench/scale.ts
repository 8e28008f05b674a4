/**
 * `pnpm bench scale`: one daemon holding a million memories (issue 14, item 2).
 *  - builds (once, cached under bench-results/cache/) a data folder of synthetic memories with
 *    clustered 512-d vectors labelled as the default model's (USE-lite), see _bulk-store.ts
 *  - opens it in-process: vector index rebuilt from vec0 (first open) and read from its snapshot
 *  - starts a real `tribalmemoryd` on it: startup to the first answered /v1/recall, RSS after
 *    warm-up and after 1,000 recalls, HTTP recall latency (the query embedded by USE-lite)
 *  - in-process recall with precomputed query vectors (MemoryService.recall, the query's
 *    embedding excluded), vector and keyword search alone, index recall@10 against exact
 *  - change rows before and after compaction (memories edited many times, then acknowledged)
 * Options: --memories 1000000  --dims 512  --queries 300  --exact-queries 30  --http-recalls 1000
 *          --skip-http (no daemon process)  --skip-in-process (only the daemon process); a run that
 *          skips a part writes bench-results/scale[-N]-<part>.json, so the two halves of a 1M run
 *          (each under 5 min of CPU) do not overwrite each other
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { changeRowsOf } from "@tribalmemory/daemon/store/change-compaction";
import { InformativeTerms } from "@tribalmemory/daemon/store/informative-terms";
import { KeywordRanker } from "@tribalmemory/daemon/store/keyword-rank";
import type { IndexOpenReport } from "@tribalmemory/daemon/store/persisted-vector-index";
import { SqliteMemoryStore } from "@tribalmemory/daemon/store/sqlite-store";
import { markSynced } from "@tribalmemory/daemon/store/sync-log-store";
import type { EmbeddingProvider } from "@tribalmemory/shared/embed/provider";
import { USE_LITE_MODEL_ID } from "@tribalmemory/shared/embed/use-lite";
import { newActorId } from "@tribalmemory/shared/memory/document";
import { MemoryService } from "@tribalmemory/shared/service/memory-service";
import Database from "better-sqlite3";
import { request } from "undici";
import { buildScaleFolder, exactTop10, scaleCorpus, scaleQuery } from "./_bulk-store.ts";
import { rng } from "./_corpus.ts";
import { summarize, writeReport } from "./_report.ts";

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (a.startsWith("--"))
    args.set(
      a.slice(2),
      process.argv[i + 1]?.startsWith("--") || i + 1 >= process.argv.length ? "true" : process.argv[++i],
    );
}
const count = Number(args.get("memories") ?? 100_000);
const dims = Number(args.get("dims") ?? 512);
const queries = Number(args.get("queries") ?? 300);
const exactQueries = Number(args.get("exact-queries") ?? 30);
const httpRecalls = Number(args.get("http-recalls") ?? 1000);
const cacheDir = join(process.cwd(), "bench-results", "cache");
const log = (s: string) => process.stdout.write(`${s}\n`);
const report: Record<string, unknown> = { memories: count, dims, model: USE_LITE_MODEL_ID };

function folderBytes(dir: string): number {
  return readdirSync(dir).reduce((sum, f) => sum + statSync(join(dir, f)).size, 0);
}

const mib = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;

function rssMiB(pid: number): number {
  const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
  return Math.round((kb / 1024) * 10) / 10;
}

/** Serves precomputed vectors under the default model's id: recall without query embedding. */
function lookupProvider(table: Map<string, Float32Array>): EmbeddingProvider {
  return {
    modelId: USE_LITE_MODEL_ID,
    dims,
    async embed(texts) {
      return texts.map((t) => table.get(t) ?? new Float32Array(dims));
    },
    async close() {},
  };
}

// ------------------------------------------------------------------ the data folder

log(`data folder of ${count} memories (${dims}-d)…`);
const built = await buildScaleFolder({ cacheDir, count, dims, modelId: USE_LITE_MODEL_ID, log });
const dbPath = join(built.dir, "memories.db");
if (built.buildSeconds !== null) report.build_seconds = built.buildSeconds;
{
  // The first open after a build rebuilds the index from vec0; closing saves its snapshot.
  const opened: IndexOpenReport[] = [];
  const t = performance.now();
  const store = new SqliteMemoryStore({ path: dbPath, onVectorIndex: (r) => opened.push(r) });
  const openMs = performance.now() - t;
  await store.vectorIndexReady();
  // Common terms' counts (term-stats.ts), made on a worker at the first open as a daemon would.
  await store.termStats.ready();
  const stats = store.termStats.last;
  if (stats && "info" in stats && stats.info) {
    log(`  term stats: ${stats.info.tokens} tokens counted in ${stats.info.ms} ms`);
    report.term_stats_build_ms = stats.info.ms;
  }
  const c = performance.now();
  await store.close();
  log(
    `  opened: index ${opened[0]?.from} in ${opened[0]?.ms} ms (open ${Math.round(openMs)} ms), closed in ${Math.round(performance.now() - c)} ms`,
  );
  if (opened[0]?.from === "rebuilt") report.index_rebuild_from_vec0_ms = opened[0].ms;
}
report.data_folder_mib = mib(folderBytes(built.dir));
log(`  data folder: ${report.data_folder_mib} MiB`);

const corpus = scaleCorpus(count, dims);
const random = rng(7);
const qs = Array.from({ length: queries }, () => scaleQuery(corpus, Math.floor(random() * count), random));

// ------------------------------------------------------------------ a real daemon process

async function post(url: string, path: string, body: unknown): Promise<number> {
  const res = await request(`${url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  await res.body.text();
  return res.statusCode;
}

/**
 * Spawns tribalmemoryd (USE-lite, the default offline model) on `dataDir`; with `full`, measures
 * the model's readiness, RSS and HTTP latency, else only the first answer (the empty-folder
 * baseline: Node and the daemon's own modules loading, the same with or without memories).
 */
async function benchDaemon(dataDir: string, full: boolean) {
  const home = mkdtempSync(join(tmpdir(), "tm-scale-"));
  writeFileSync(
    join(home, "config.yaml"),
    `data_dir: ${dataDir}\nserver:\n  port: 0\nembedding:\n  provider: offline\n`,
  );
  const bin = fileURLToPath(new URL("../../cli/src/tribalmemoryd.ts", import.meta.url));
  const info = join(dataDir, "daemon.json");
  rmSync(info, { force: true });
  const started = performance.now();
  const child = spawn(process.execPath, [bin], {
    env: { ...process.env, TRIBAL_MEMORY_HOME: home, TRIBAL_MEMORY_LOG_LEVEL: "info" },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d) => {
    stderr += d;
  });
  try {
    const deadline = Date.now() + 300_000;
    while (!existsSync(info)) {
      if (Date.now() > deadline || child.exitCode !== null)
        throw new Error(`daemon did not start: ${stderr}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    const { url } = JSON.parse(readFileSync(info, "utf8")) as { url: string };
    const recall = (q: string) => post(url, "/v1/recall", { query: q, limit: 10 });
    while ((await recall(qs[0].text)) !== 200) await new Promise((r) => setTimeout(r, 10));
    const firstAnswer = Math.round(performance.now() - started);
    if (!full) return { startup_to_first_recall_ms: firstAnswer };
    let firstHealthMs: number | null = null;
    for (;;) {
      const asked = performance.now();
      const h = (await (await request(`${url}/v1/health`)).body.json()) as {
        embedding: { status: string; error: string | null };
      };
      firstHealthMs ??= Math.round(performance.now() - asked);
      if (h.embedding.status === "ready") break;
      if (h.embedding.status === "failed") throw new Error(`model failed: ${h.embedding.error}`);
      if (Date.now() > deadline) throw new Error("model did not load in time");
      await new Promise((r) => setTimeout(r, 20));
    }
    const modelReady = Math.round(performance.now() - started);
    const firstVectorAnswerStart = performance.now();
    await recall(qs[1].text);
    const firstVectorAnswer = Math.round(modelReady + performance.now() - firstVectorAnswerStart);
    log(`  daemon: first /v1/recall answered ${firstAnswer} ms after spawn; model ready ${modelReady} ms`);
    for (const q of qs.slice(0, 50)) await recall(q.text);
    const rssWarm = rssMiB(child.pid as number);
    const lat: number[] = [];
    for (let i = 0; i < httpRecalls; i++) {
      const t = performance.now();
      await recall(qs[i % qs.length].text);
      lat.push(performance.now() - t);
    }
    const rssAfter = rssMiB(child.pid as number);
    const httpMs = summarize(lat);
    // /v1/stats (tribal_stats) counts on the read worker: health, asked meanwhile, answers at once.
    const statsAsked = performance.now();
    const statsDone = request(`${url}/v1/stats`).then(async (r) => {
      await r.body.text();
      return Math.round(performance.now() - statsAsked);
    });
    await new Promise((r) => setTimeout(r, 20));
    const healthAsked = performance.now();
    await (await request(`${url}/v1/health`)).body.text();
    const healthDuringStats = Math.round(performance.now() - healthAsked);
    const statsMs = await statsDone;
    const againAsked = performance.now();
    await (await request(`${url}/v1/stats`)).body.text();
    const statsAgainMs = Math.round(performance.now() - againAsked);
    log(
      `  /v1/health first answered in ${firstHealthMs} ms; /v1/stats ${statsMs} ms (health meanwhile ${healthDuringStats} ms), asked again ${statsAgainMs} ms`,
    );
    log(
      `  daemon RSS ${rssWarm} MiB after warm-up, ${rssAfter} MiB after ${httpRecalls} recalls; HTTP recall (USE-lite query embedding included) p50 ${httpMs.p50} / p95 ${httpMs.p95} / p99 ${httpMs.p99} ms`,
    );
    const indexLine = /{[^\n]*"msg":"vector index[^\n]*/.exec(stderr)?.[0];
    return {
      startup_to_first_recall_ms: firstAnswer,
      startup_to_model_ready_ms: modelReady,
      startup_to_first_vector_recall_ms: firstVectorAnswer,
      rss_mib_after_warmup: rssWarm,
      rss_mib_after_recalls: rssAfter,
      http_recalls: httpRecalls,
      recall_http_ms: httpMs,
      first_health_ms: firstHealthMs,
      stats_ms: statsMs,
      health_ms_during_stats: healthDuringStats,
      stats_again_ms: statsAgainMs,
      ...(indexLine ? { daemon_index_log: indexLine } : {}),
    };
  } finally {
    child.kill("SIGTERM");
    await new Promise((r) => child.once("exit", r));
    rmSync(home, { recursive: true, force: true });
  }
}

if (!args.has("skip-http")) {
  log("a real tribalmemoryd on an empty folder, then on the folder…");
  const empty = mkdtempSync(join(tmpdir(), "tm-scale-empty-"));
  const baseline = await benchDaemon(empty, false);
  rmSync(empty, { recursive: true, force: true });
  report.startup_empty_folder_to_first_recall_ms = baseline.startup_to_first_recall_ms;
  log(`  empty folder: first /v1/recall answered ${baseline.startup_to_first_recall_ms} ms after spawn`);
  Object.assign(report, await benchDaemon(built.dir, true));
}

// ------------------------------------------------------------------ in-process recall

/** How much of BM25's exhaustive top 40 (and top 10) the rare-terms-first ranking returns. */
function keywordAgreement(path: string, queries: string[][]): { top40: number; top10: number } {
  const db = new Database(path, { readonly: true });
  try {
    const terms = new InformativeTerms(db);
    const rareFirst = new KeywordRanker(db, terms);
    const every = new KeywordRanker(db, terms, { budget: Infinity });
    let top40 = 0;
    let top10 = 0;
    for (const q of queries) {
      const want = every.top(q, 40, true).map((r) => r.rid);
      const got = new Set(rareFirst.top(q, 40, true).map((r) => r.rid));
      const got10 = new Set(rareFirst.top(q, 10, true).map((r) => r.rid));
      top40 += want.filter((rid) => got.has(rid)).length / Math.max(1, want.length);
      top10 +=
        want.slice(0, 10).filter((rid) => got10.has(rid)).length / Math.max(1, Math.min(10, want.length));
    }
    const share = (n: number) => Math.round((n / queries.length) * 1000) / 1000;
    return { top40: share(top40), top10: share(top10) };
  } finally {
    db.close();
  }
}

if (!args.has("skip-in-process")) {
  log("in-process recall (precomputed query vectors)…");
  const opened: IndexOpenReport[] = [];
  const t = performance.now();
  const store = new SqliteMemoryStore({ path: dbPath, onVectorIndex: (r) => opened.push(r) });
  report.store_open_ms = Math.round(performance.now() - t);
  await Promise.all([store.vectorIndexReady(), store.termStats.ready()]);
  report.index_open = opened[0];
  const table = new Map(qs.map((q) => [q.text, q.vector]));
  const svc = new MemoryService({ store, actor: newActorId(), instanceId: "bench" });
  await svc.setEmbedder({
    provider: lookupProvider(table),
    calibration: { floor: 0.3, ceiling: 0.9, weight: 1 },
    dedupCosine: null,
  });
  const body = (query: string) => ({
    query,
    limit: 10,
    min_relevance: 0,
    include_superseded: false,
    sources: "memories" as const,
  });
  for (const q of qs.slice(0, 20)) await svc.recall(body(q.text)); // warm up
  const lat: number[] = [];
  for (const q of qs) {
    const s = performance.now();
    await svc.recall(body(q.text));
    lat.push(performance.now() - s);
  }
  const vecLat: number[] = [];
  const kwLat: number[] = [];
  const approx: string[][] = [];
  for (const q of qs) {
    const tv = performance.now();
    approx.push((await store.vectorSearch(q.vector, 10, {})).map((h) => h.id));
    vecLat.push(performance.now() - tv);
    const tk = performance.now();
    await store.keywordSearch(q.text.split(" "), 40, {});
    kwLat.push(performance.now() - tk);
  }
  report.recall_in_process_ms = summarize(lat);
  report.vector_search_ms = summarize(vecLat);
  report.keyword_search_ms = summarize(kwLat);
  const r = report.recall_in_process_ms as ReturnType<typeof summarize>;
  log(
    `  recall p50 ${r.p50} / p95 ${r.p95} / p99 ${r.p99} ms; vector ${summarize(vecLat).p50} ms, keyword ${summarize(kwLat).p50} ms (p50)`,
  );
  // Filtered recall: a tag (2% of the memories), a writer (one in seven), a period (the oldest
  // fifth or so): what agents filter by; and a source type no memory has, and one every memory
  // has (the corpus is all auto-captured).
  const oldest = store.db
    .prepare("SELECT min(created_ms) AS lo, max(created_ms) AS hi FROM memories")
    .get() as {
    lo: number;
    hi: number;
  };
  const periodEnd = new Date(oldest.lo + (oldest.hi - oldest.lo) / 5).toISOString();
  const filters: [string, Record<string, unknown>][] = [
    ["tag", { tags: ["t7"] }],
    ["source_instance", { source_instance: "agent-3" }],
    ["period", { before: periodEnd }],
    ["source_type_none", { source_type: "user_explicit" }],
    ["source_type_all", { source_type: "auto_capture" }],
  ];
  const filtered: Record<string, ReturnType<typeof summarize>> = {};
  for (const [kind, filter] of filters) {
    const ms: number[] = [];
    for (const q of qs.slice(0, 100)) {
      const s = performance.now();
      await svc.recall({ ...body(q.text), ...filter });
      ms.push(performance.now() - s);
    }
    filtered[kind] = summarize(ms);
  }
  report.recall_filtered_in_process_ms = filtered;
  log(
    `  filtered recall p50 / p95 ms: ${filters.map(([kind]) => `${kind} ${filtered[kind].p50} / ${filtered[kind].p95}`).join(", ")}`,
  );
  const agreement = keywordAgreement(
    dbPath,
    qs.slice(0, 100).map((q) => q.text.split(" ")),
  );
  report.keyword_agreement = agreement;
  log(
    `  keyword top 40 (rare terms first, keyword-rank.ts) against scoring every match: ${agreement.top40} the same (top 10: ${agreement.top10})`,
  );
  const t2 = performance.now();
  const exact = exactTop10(
    corpus,
    qs.slice(0, exactQueries).map((q) => q.vector),
  );
  let found = 0;
  exact.forEach((ids, i) => {
    const want = new Set(ids);
    found += approx[i].filter((id) => want.has(id)).length;
  });
  report.index_recall_at_10 = Math.round((found / (exact.length * 10)) * 1000) / 1000;
  log(
    `  index recall@10 vs exact: ${report.index_recall_at_10} (${exactQueries} queries; exact scan ${Math.round((performance.now() - t2) / 1000)} s)`,
  );
  await store.close();
}

// ------------------------------------------------------------------ change log compaction

if (!args.has("skip-in-process")) {
  const store = new SqliteMemoryStore({ path: ":memory:" });
  const svc = new MemoryService({ store, actor: newActorId(), instanceId: "bench" });
  const memories = 100;
  const edits = 50;
  const ids: string[] = [];
  for (let i = 0; i < memories; i++) {
    const content = `Runbook ${i}: the service restarts from the ops console`;
    const first = await svc.remember({ content, source_type: "user_explicit", tags: ["v0"] });
    ids.push(first.memory.id);
    for (let e = 1; e <= edits; e++)
      await svc.remember({ content, source_type: "user_explicit", tags: [`v${e}`] });
  }
  const total = () => (store.db.prepare("SELECT count(*) AS n FROM changes").get() as { n: number }).n;
  const before = total();
  const hashes = store.db
    .prepare("SELECT c.hash FROM outbox o JOIN changes c ON c.seq = o.seq")
    .pluck()
    .all() as string[];
  const t = performance.now();
  markSynced(store, hashes); // the relay acknowledged every change
  const ms = performance.now() - t;
  report.change_log = {
    memories,
    edits_each: edits,
    change_rows_before: before,
    change_rows_after: total(),
    rows_of_one_memory_after: changeRowsOf(store.db, ids[0]),
    compaction_ms: Math.round(ms),
  };
  log(
    `change log: ${memories} memories edited ${edits} times: ${before} rows, ${total()} after the relay acknowledged them (${Math.round(ms)} ms)`,
  );
  await store.close();
}

const part = args.has("skip-http") ? "-in-process" : args.has("skip-in-process") ? "-http" : "";
writeReport(`${count >= 1_000_000 ? "scale" : `scale-${count}`}${part}`, report);
