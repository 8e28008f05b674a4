/**
 * Benchmark of the ONNX embedding path: a random-weight model of bge-small-en-v1.5's exact
 * shape (12 layers, hidden 384, 12 heads, FFN 1536), by default int8 dynamically quantized as
 * the real model_quantized.onnx is, with the real tokenizer, hosted in a worker thread with
 * dynamic padding and micro-batching.
 *
 *   node test/bench/embed-onnx.ts [--preset bge-small-shape-int8] [--threads 1,2] [--runs 50] [--rounds 3]
 *
 * Per thread count: single 200-character queries one at a time (p50/p95 through the worker
 * host), throughput for 32, 64 and 256 short (~200 character) passages in one call (median
 * of --rounds), 256 mixed-length passages, and RSS. Prints the figures and writes
 * bench-results/embed-onnx.json (bench-results/embed-onnx-<preset>.json for another preset).
 * Never fails for being slow.
 */
import { mkdirSync, statSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { loadBertTokenizer } from "@tribalmemory/shared/embed/bert-tokenizer";
import {
  ensureGeneratedBertModel,
  type GeneratedBertPreset,
} from "@tribalmemory/shared/embed/generated-bert-model";
import { BGE_TOKENIZER_DIR } from "@tribalmemory/shared/embed/onnx-bert";
import { createWorkerEmbedder } from "@tribalmemory/shared/embed/worker-host";

const PRESETS: readonly GeneratedBertPreset[] = [
  "bge-small-shape-int8",
  "bge-small-shape",
  "tiny-int8",
  "tiny",
];
const DEFAULT_PRESET: GeneratedBertPreset = "bge-small-shape-int8";

const { values: args } = parseArgs({
  options: {
    preset: { type: "string", default: DEFAULT_PRESET },
    threads: { type: "string", default: "1,2" },
    runs: { type: "string", default: "50" },
    rounds: { type: "string", default: "3" },
  },
});
if (!PRESETS.includes(args.preset as GeneratedBertPreset)) {
  console.error(`--preset must be one of ${PRESETS.join(", ")}`);
  process.exit(2);
}
const preset = args.preset as GeneratedBertPreset;
const threadCounts = args.threads.split(",").map(Number);
const runs = Number(args.runs);
const rounds = Math.max(1, Number(args.rounds));
const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
const mib = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;
const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const cpuMs = (usage: NodeJS.CpuUsage) => (usage.user + usage.system) / 1000;

// Deterministic English-like text of about `chars` characters.
const WORDS = (
  "memory agent daemon recall vector embedding relay sync workspace deploy key rotation " +
  "release checklist postgres sqlite index query passage tokenizer model latency budget " +
  "the a of to and in is for on with that by this be are from at as it an or"
).split(" ");
function textOf(chars: number, seed: number): string {
  let out = "";
  for (let i = 0; out.length < chars; i++)
    out += `${WORDS[(seed * 31 + i * 17 + ((i * i) % 7)) % WORDS.length]} `;
  return `${out.slice(0, chars - 1)}.`;
}
function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

console.log(`embed-onnx bench: ${cpus().length} CPUs (${cpus()[0]?.model}), node ${process.version}`);
const genStart = performance.now();
const model = await ensureGeneratedBertModel(preset);
console.log(
  `model ${preset}: ${model.path}, ${mib(statSync(model.path).size)} MiB (${round(performance.now() - genStart, 0)} ms to ensure + hash)`,
);
const moduleUrl = import.meta.resolve("@tribalmemory/shared/embed/onnx-bert");
const tokenizer = await loadBertTokenizer(BGE_TOKENIZER_DIR);

const short = Array.from({ length: runs + 5 }, (_, i) => textOf(200, i));
// Short passages for the throughput figures (a batch import of ~200-character memories).
const SHORT_BATCHES = [32, 64, 256] as const;
const shortPassages = Array.from({ length: 256 }, (_, i) => textOf(180 + ((i * 7) % 41), 5000 + i));
const shortTokens = shortPassages.map((t) => tokenizer.encode(t).ids.length);
// 256 mixed-length texts in one call (an import or a re-embedding pass).
const lengths = Array.from({ length: 256 }, (_, i) => [40, 120, 200, 400, 800, 1600, 3000][(i * 5) % 7]);
const batch = lengths.map((chars, i) => textOf(chars, 1000 + i));
const tokens = batch.map((t) => tokenizer.encode(t).ids.length);
const tokensTotal = tokens.reduce((a, b) => a + b, 0);

async function measure(threads: number) {
  const options = {
    modelPath: model.path,
    expectedSha256: model.sha256,
    modelId: `${preset}-random`,
    threads,
  };
  const loadStart = performance.now();
  const embedder = await createWorkerEmbedder({ moduleUrl, options });
  const loadMs = performance.now() - loadStart;
  const rssAfterLoad = process.memoryUsage().rss;

  // Single 200-character texts, one at a time, as recall queries arrive.
  for (const text of short.slice(0, 5)) await embedder.embed([text], "query");
  const latencies: number[] = [];
  // CPU time of the whole process (worker included): steadier than wall time on a shared machine.
  const singleCpu = process.cpuUsage();
  for (const text of short.slice(5)) {
    const t0 = performance.now();
    await embedder.embed([text], "query");
    latencies.push(performance.now() - t0);
  }
  const singleCpuMs = cpuMs(process.cpuUsage(singleCpu)) / runs;
  latencies.sort((a, b) => a - b);

  // Short passages in one call each, as a batch import sends them; median of `rounds`.
  const shortBatches: Record<
    string,
    { texts: number; tokensMean: number; ms: number; textsPerSecond: number; textsPerCpuSecond: number }
  > = {};
  for (const n of SHORT_BATCHES) {
    const texts = shortPassages.slice(0, n);
    await embedder.embed(texts.slice(0, 8), "passage"); // warm-up
    const times: number[] = [];
    const cpuTimes: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      await embedder.embed(texts, "passage");
      times.push(performance.now() - t0);
      cpuTimes.push(cpuMs(process.cpuUsage(cpu0)));
    }
    const ms = median(times);
    shortBatches[`short${n}`] = {
      texts: n,
      tokensMean: round(shortTokens.slice(0, n).reduce((a, b) => a + b, 0) / n, 1),
      ms: round(ms, 0),
      textsPerSecond: round((n / ms) * 1000, 1),
      textsPerCpuSecond: round((n / median(cpuTimes)) * 1000, 1),
    };
  }
  const rssAfterShort = process.memoryUsage().rss;

  const batchStart = performance.now();
  const vectors = await embedder.embed(batch, "passage");
  const batchMs = performance.now() - batchStart;
  // onnxruntime's arena keeps what the largest run needed, so this is about the peak.
  const rssAfterBatch = process.memoryUsage().rss;
  await embedder.close();

  const result = {
    threads,
    loadMs: round(loadMs, 0),
    single200Chars: {
      runs,
      tokens: tokenizer.encode(`Represent this sentence for searching relevant passages: ${short[5]}`).ids
        .length,
      p50Ms: round(percentile(latencies, 50), 2),
      p95Ms: round(percentile(latencies, 95), 2),
      minMs: round(latencies[0], 2),
      cpuMsPerText: round(singleCpuMs, 2),
    },
    ...shortBatches,
    batch256Mixed: {
      texts: vectors.length,
      tokensTotal,
      tokensMin: Math.min(...tokens),
      tokensMax: Math.max(...tokens),
      ms: round(batchMs, 0),
      textsPerSecond: round((vectors.length / batchMs) * 1000, 1),
      tokensPerSecond: round((tokensTotal / batchMs) * 1000, 0),
    },
    rssMiB: {
      afterLoad: mib(rssAfterLoad),
      afterShortBatches: mib(rssAfterShort),
      afterMixedBatch: mib(rssAfterBatch),
    },
  };
  console.log(`\nthreads=${threads}: load ${result.loadMs} ms`);
  console.log(
    `  single 200-char query (${result.single200Chars.tokens} tokens with prefix, ${runs} runs): ` +
      `p50 ${result.single200Chars.p50Ms} ms, p95 ${result.single200Chars.p95Ms} ms, min ${result.single200Chars.minMs} ms, ` +
      `CPU ${result.single200Chars.cpuMsPerText} ms per text`,
  );
  for (const n of SHORT_BATCHES) {
    const b = shortBatches[`short${n}`];
    console.log(
      `  ${n} short passages (~200 chars, ${b.tokensMean} tokens mean, median of ${rounds}): ${b.ms} ms, ${b.textsPerSecond} texts/s, ` +
        `${b.textsPerCpuSecond} texts per CPU-second`,
    );
  }
  console.log(
    `  256 mixed texts (${result.batch256Mixed.tokensMin}–${result.batch256Mixed.tokensMax} tokens, ${tokensTotal} in all): ` +
      `${result.batch256Mixed.ms} ms, ${result.batch256Mixed.textsPerSecond} texts/s, ${result.batch256Mixed.tokensPerSecond} tokens/s`,
  );
  console.log(
    `  RSS ${result.rssMiB.afterLoad} MiB after load, ${result.rssMiB.afterShortBatches} after the short batches, ` +
      `${result.rssMiB.afterMixedBatch} after the mixed batch`,
  );
  return result;
}

const results = [];
for (const threads of threadCounts) results.push(await measure(threads));

// A further load hits the `.sha256-verified` sidecar instead of rehashing the model file.
const reloadStart = performance.now();
const again = await createWorkerEmbedder({
  moduleUrl,
  options: { modelPath: model.path, expectedSha256: model.sha256, threads: 1 },
});
const reloadMs = round(performance.now() - reloadStart, 0);
await again.close();
const peakRssMiB = mib(process.resourceUsage().maxRSS * 1024);
console.log(`\nreload with verified sidecar ${reloadMs} ms; peak RSS of the whole run ${peakRssMiB} MiB`);

const report = {
  bench: "embed-onnx",
  date: new Date().toISOString(),
  node: process.version,
  cpus: cpus().length,
  cpuModel: cpus()[0]?.model,
  model: {
    preset,
    dtype: `${preset.endsWith("-int8") ? "int8 dynamic quantization" : "float32"}, random weights`,
    bytes: statSync(model.path).size,
  },
  results,
  reloadMsWithVerifiedSidecar: reloadMs,
  peakRssMiB,
};
const outDir = join(repoRoot, "bench-results");
mkdirSync(outDir, { recursive: true });
const reportName = preset === DEFAULT_PRESET ? "embed-onnx.json" : `embed-onnx-${preset}.json`;
writeFileSync(join(outDir, reportName), `${JSON.stringify(report, null, 2)}\n`);
console.log(`wrote ${join(outDir, reportName)}`);
