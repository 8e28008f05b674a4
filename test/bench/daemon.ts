/**
 * `pnpm bench daemon`: the daemon issue's figures.
 *  - recall latency (excluding query embedding) at 10k and 100k memories, with index recall@10
 *  - remember through HTTP with a random-weight model of bge-small's exact shape
 *  - batch import rate through HTTP
 *  - daemon RSS with the model loaded and 100k memories
 * Options: --sizes 10000,100000  --queries 300  --skip-http  --http-only
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
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { SqliteMemoryStore } from "@tribalmemory/daemon/store/sqlite-store";
import { readLocalToken } from "@tribalmemory/shared/config/local-token";
import { ensureGeneratedBertModel } from "@tribalmemory/shared/embed/generated-bert-model";
import type { EmbeddingProvider } from "@tribalmemory/shared/embed/provider";
import { newActorId } from "@tribalmemory/shared/memory/document";
import { MemoryService } from "@tribalmemory/shared/service/memory-service";
import { request } from "undici";
import { loadMemories } from "../eval/dataset.ts";
import { queryFor, rng, syntheticCorpus, syntheticId, syntheticMemory } from "./_corpus.ts";
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
const sizes = (args.get("sizes") ?? "10000,100000").split(",").map(Number);
const queries = Number(args.get("queries") ?? 300);
const MODEL_ID = "bge-small-en-v1.5";
const cacheDir = join(process.cwd(), "bench-results", "cache");
mkdirSync(cacheDir, { recursive: true });
const log = (s: string) => process.stdout.write(`${s}\n`);

/** Serves precomputed vectors: recall latency is measured without query embedding. */
function lookupProvider(table: Map<string, Float32Array>): EmbeddingProvider {
  return {
    modelId: MODEL_ID,
    dims: 384,
    async embed(texts) {
      return texts.map((t) => table.get(t) ?? new Float32Array(384));
    },
    async close() {},
  };
}

async function buildStore(size: number): Promise<string> {
  const path = join(cacheDir, `recall-${size}.db`);
  if (existsSync(path)) return path;
  const tmp = `${path}.building`;
  rmSync(tmp, { force: true });
  const corpus = syntheticCorpus(size);
  const store = new SqliteMemoryStore({ path: tmp });
  const table = new Map<string, Float32Array>();
  const svc = new MemoryService({ store, actor: newActorId(), instanceId: "bench" });
  await svc.setEmbedder({
    provider: lookupProvider(table),
    calibration: { floor: 0.3, ceiling: 0.9, weight: 1 },
    dedupCosine: null,
  });
  const started = performance.now();
  for (let i = 0; i < size; i += 1000) {
    const items = [];
    for (let j = i; j < Math.min(size, i + 1000); j++) {
      items.push({
        memory: syntheticMemory(j, corpus.texts[j]),
        vector: corpus.vectors[j],
      });
    }
    await svc.insertExact(items);
    if ((i / 1000) % 10 === 0)
      log(`  building ${size}: ${i + items.length} (${Math.round((performance.now() - started) / 1000)} s)`);
  }
  await store.close();
  renameSync(tmp, path);
  return path;
}

async function benchRecall(size: number) {
  const path = await buildStore(size);
  const store = new SqliteMemoryStore({ path });
  const corpus = syntheticCorpus(size);
  const table = new Map<string, Float32Array>();
  const random = rng(7);
  const qs = Array.from({ length: queries }, () => queryFor(corpus, Math.floor(random() * size), random));
  for (const q of qs) table.set(q.text, q.vector);
  const svc = new MemoryService({ store, actor: newActorId(), instanceId: "bench" });
  await svc.setEmbedder({
    provider: lookupProvider(table),
    calibration: { floor: 0.3, ceiling: 0.9, weight: 1 },
    dedupCosine: null,
  });
  const body = (query: string, extra = {}) => ({
    query,
    limit: 10,
    min_relevance: 0,
    include_superseded: false,
    sources: "memories" as const,
    ...extra,
  });
  for (const q of qs.slice(0, 20)) await svc.recall(body(q.text)); // warm up
  const lat: number[] = [];
  const vecLat: number[] = [];
  const kwLat: number[] = [];
  let overlap = 0;
  let checked = 0;
  const allIds = corpus.texts.map((_, i) => syntheticId(i));
  // Recall alone first; the per-list timings and the exact-recall check (which allocate a lot)
  // run in their own loop so their garbage does not land in the recall figures.
  for (const q of qs) {
    const t = performance.now();
    await svc.recall(body(q.text));
    lat.push(performance.now() - t);
  }
  for (const q of qs) {
    const tv = performance.now();
    const approx = await store.vectorSearch(q.vector, 10, {});
    vecLat.push(performance.now() - tv);
    const tk = performance.now();
    await store.keywordSearch(q.text.split(" "), 40, {});
    kwLat.push(performance.now() - tk);
    if (checked < 50) {
      overlap += exactOverlap(
        corpus.vectors,
        allIds,
        q.vector,
        approx.map((h) => h.id),
      );
      checked++;
    }
  }
  const filtered: number[] = [];
  for (const q of qs.slice(0, 100)) {
    const t = performance.now();
    await svc.recall(body(q.text, { tags: ["t3"] }));
    filtered.push(performance.now() - t);
  }
  await store.close();
  return {
    size,
    recall_ms: summarize(lat),
    recall_with_tag_filter_ms: summarize(filtered),
    vector_search_ms: summarize(vecLat),
    keyword_search_ms: summarize(kwLat),
    vector_index_recall_at_10: Math.round((overlap / (checked * 10)) * 1000) / 1000,
  };
}

/** How many of the index's top 10 are in the exact top 10 (brute force over the corpus's vectors). */
function exactOverlap(vectors: Float32Array[], ids: string[], q: Float32Array, got: string[]): number {
  const top: { i: number; s: number }[] = [];
  for (let i = 0; i < vectors.length; i++) {
    const v = vectors[i];
    let s = 0;
    for (let j = 0; j < v.length; j++) s += v[j] * q[j];
    if (top.length < 10 || s > top[top.length - 1].s) {
      top.push({ i, s });
      top.sort((a, b) => b.s - a.s);
      if (top.length > 10) top.pop();
    }
  }
  const exact = new Set(top.map((t) => ids[t.i]));
  return got.filter((id) => exact.has(id)).length;
}

// ------------------------------------------------------------------ HTTP, real daemon process

interface DaemonProc {
  url: string;
  pid: number;
  stop: () => Promise<void>;
}

async function startDaemonProcess(
  home: string,
  dataDir: string,
  modelDir: string,
  sha: string,
): Promise<DaemonProc> {
  writeFileSync(
    join(home, "config.yaml"),
    `data_dir: ${dataDir}\nserver:\n  port: 0\nembedding:\n  provider: bge-small-en-v1.5\n  model_dir: ${modelDir}\n  model_sha256: ${sha}\n`,
  );
  const bin = fileURLToPath(new URL("../../cli/src/tribalmemoryd.ts", import.meta.url));
  const child = spawn(process.execPath, [bin], {
    env: { ...process.env, TRIBAL_MEMORY_HOME: home },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const info = join(dataDir, "daemon.json");
  const deadline = Date.now() + 60_000;
  while (!existsSync(info)) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`daemon did not start: ${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const { url } = JSON.parse(readFileSync(info, "utf8")) as { url: string };
  for (;;) {
    const h = (await (await request(`${url}/v1/health`)).body.json()) as {
      embedding: { status: string; error: string | null };
    };
    if (h.embedding.status === "ready") break;
    if (h.embedding.status === "failed") throw new Error(`model failed: ${h.embedding.error}`);
    if (Date.now() > deadline) throw new Error("model did not load in time");
    await new Promise((r) => setTimeout(r, 200));
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

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return Math.round((kb / 1024) * 10) / 10;
}

/**
 * English text of about 200 characters, cut from the labelled set's memories (agent-written
 * prose tokenises to ~45 wordpieces; the synthetic syllable words would give twice that).
 */
function text200(random: () => number): string {
  let s = "";
  while (s.length < 200) s += `${englishPool[Math.floor(random() * englishPool.length)]} `;
  const cut = s.slice(0, 200);
  return cut.slice(0, Math.max(cut.lastIndexOf(" "), 150)).trim();
}

const englishPool = loadMemories().map((m) => m.content.replace(/\s+/g, " "));

async function benchHttp() {
  log("generating the bge-small-shaped random-weight model (once)…");
  const model = await ensureGeneratedBertModel("bge-small-shape-int8");
  const home = mkdtempSync(join(tmpdir(), "tm-bench-"));
  const modelDir = join(home, "models", "bge");
  mkdirSync(modelDir, { recursive: true });
  symlinkSync(model.path, join(modelDir, "model_quantized.onnx"));
  const random = rng(11);
  const { vocab } = syntheticCorpus(10);
  const results: Record<string, unknown> = {};
  try {
    const dataDir = join(home, "data");
    const d = await startDaemonProcess(home, dataDir, modelDir, model.sha256);
    const post = async (path: string, body: unknown, type = "application/json") => {
      const res = await request(`${d.url}${path}`, {
        method: "POST",
        // Import needs the daemon's local token.
        headers: { "content-type": type, "x-tribal-token": readLocalToken(home) ?? "" },
        body: typeof body === "string" ? body : JSON.stringify(body),
      });
      const out = await res.body.text();
      if (res.statusCode >= 400) throw new Error(`${path}: ${res.statusCode} ${out}`);
      return out;
    };
    for (let i = 0; i < 20; i++) await post("/v1/remember", { content: `warm up ${i} ${text200(random)}` });
    const lat: number[] = [];
    for (let i = 0; i < 200; i++) {
      const t = performance.now();
      await post("/v1/remember", { content: text200(random) });
      lat.push(performance.now() - t);
    }
    results.remember_http_200_chars_ms = summarize(lat);
    log(
      `remember via HTTP (200 chars, bge-shaped model): p50 ${summarize(lat).p50} ms, p95 ${summarize(lat).p95} ms`,
    );
    const n = 3000;
    const lines = Array.from({ length: n }, (_, i) =>
      JSON.stringify({ content: `${text200(random)} import ${i}`, tags: ["import"] }),
    );
    const t = performance.now();
    for (let i = 0; i < n; i += 500)
      await post("/v1/import", `${lines.slice(i, i + 500).join("\n")}\n`, "application/x-ndjson");
    const accepted = (performance.now() - t) / 1000;
    results.import_memories_per_s = Math.round(n / accepted);
    log(
      `batch import via HTTP (JSONL, 500 per request; stored and keyword-indexed): ${results.import_memories_per_s} memories/s`,
    );
    // Vectors come from the background backfill: time until every imported memory has one.
    for (;;) {
      const stats = JSON.parse(await (await request(`${d.url}/v1/stats`)).body.text()) as {
        missing_embeddings: number;
      };
      if (stats.missing_embeddings === 0) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const embedded = (performance.now() - t) / 1000;
    results.import_embedded_memories_per_s = Math.round(n / embedded);
    log(
      `  … with every vector computed (bge-shaped model): ${results.import_embedded_memories_per_s} memories/s`,
    );
    await d.stop();

    if (sizes.includes(100000)) {
      // RSS: the 100k store (its vectors labelled with this model's id, so nothing re-embeds).
      const big = join(home, "big");
      mkdirSync(big);
      copyFileSync(join(cacheDir, "recall-100000.db"), join(big, "memories.db"));
      const d2 = await startDaemonProcess(home, big, modelDir, model.sha256);
      for (let i = 0; i < 50; i++)
        await post2(d2.url, "/v1/recall", { query: `${vocab[i]} ${vocab[i + 1]}`, limit: 10 });
      results.daemon_rss_mib_100k_with_model = rssMiB(d2.pid);
      log(
        `daemon RSS with the model loaded and 100k memories: ${results.daemon_rss_mib_100k_with_model} MiB`,
      );
      await d2.stop();
    }
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
  return results;
}

async function post2(url: string, path: string, body: unknown) {
  const res = await request(`${url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  await res.body.text();
}

const report: Record<string, unknown> = { recall: [] as unknown[] };
for (const size of args.has("http-only") ? [] : sizes) {
  log(`recall at ${size} memories…`);
  const r = await benchRecall(size);
  (report.recall as unknown[]).push(r);
  log(
    `  recall p50 ${r.recall_ms.p50} ms, p95 ${r.recall_ms.p95} ms (tag-filtered p50 ${r.recall_with_tag_filter_ms.p50} ms); vector ${r.vector_search_ms.p50} ms, keyword ${r.keyword_search_ms.p50} ms; index recall@10 ${r.vector_index_recall_at_10}`,
  );
}
if (!args.has("skip-http")) Object.assign(report, await benchHttp());
writeReport("daemon", report);
