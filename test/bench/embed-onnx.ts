/**
 * Benchmark of the ONNX embedding path: a random-weight model of bge-small-en-v1.5's exact
 * shape (12 layers, hidden 384, 12 heads, FFN 1536; float32, where the real model is int8),
 * the real tokenizer, hosted in a worker thread with dynamic padding and micro-batching.
 *
 *   node test/bench/embed-onnx.ts [--threads 1,2] [--runs 50]
 *
 * Prints the figures and writes bench-results/embed-onnx.json. Never fails for being slow.
 */
import { mkdirSync, statSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { loadBertTokenizer } from "@tribalmemory/shared/embed/bert-tokenizer";
import { ensureGeneratedBertModel } from "@tribalmemory/shared/embed/generated-bert-model";
import { BGE_TOKENIZER_DIR } from "@tribalmemory/shared/embed/onnx-bert";
import { createWorkerEmbedder } from "@tribalmemory/shared/embed/worker-host";

const { values: args } = parseArgs({
  options: { threads: { type: "string", default: "1,2" }, runs: { type: "string", default: "50" } },
});
const threadCounts = args.threads.split(",").map(Number);
const runs = Number(args.runs);
const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
const mib = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;
const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;

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
const model = await ensureGeneratedBertModel("bge-small-shape");
console.log(
  `model ${model.path}, ${mib(statSync(model.path).size)} MiB (${round(performance.now() - genStart, 0)} ms to ensure + hash)`,
);
const moduleUrl = import.meta.resolve("@tribalmemory/shared/embed/onnx-bert");
const tokenizer = await loadBertTokenizer(BGE_TOKENIZER_DIR);

const short = Array.from({ length: runs + 5 }, (_, i) => textOf(200, i));
// 256 mixed-length texts in one call (an import or a re-embedding pass).
const lengths = Array.from({ length: 256 }, (_, i) => [40, 120, 200, 400, 800, 1600, 3000][(i * 5) % 7]);
const batch = lengths.map((chars, i) => textOf(chars, 1000 + i));
const tokens = batch.map((t) => tokenizer.encode(t).ids.length);
const tokensTotal = tokens.reduce((a, b) => a + b, 0);

async function measure(threads: number) {
  const options = {
    modelPath: model.path,
    expectedSha256: model.sha256,
    modelId: "bge-small-shape-random",
    threads,
  };
  const loadStart = performance.now();
  const embedder = await createWorkerEmbedder({ moduleUrl, options });
  const loadMs = performance.now() - loadStart;

  // Single 200-character texts, one at a time, as recall queries arrive.
  for (const text of short.slice(0, 5)) await embedder.embed([text], "query");
  const latencies: number[] = [];
  for (const text of short.slice(5)) {
    const t0 = performance.now();
    await embedder.embed([text], "query");
    latencies.push(performance.now() - t0);
  }
  latencies.sort((a, b) => a - b);

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
    },
    batch256Mixed: {
      texts: vectors.length,
      tokensTotal,
      tokensMin: Math.min(...tokens),
      tokensMax: Math.max(...tokens),
      ms: round(batchMs, 0),
      textsPerSecond: round((vectors.length / batchMs) * 1000, 1),
      tokensPerSecond: round((tokensTotal / batchMs) * 1000, 0),
    },
    rssMiBAfterBatch: mib(rssAfterBatch),
  };
  console.log(`\nthreads=${threads}: load ${result.loadMs} ms`);
  console.log(
    `  single 200-char query (${result.single200Chars.tokens} tokens with prefix, ${runs} runs): ` +
      `p50 ${result.single200Chars.p50Ms} ms, p95 ${result.single200Chars.p95Ms} ms`,
  );
  console.log(
    `  256 mixed texts (${result.batch256Mixed.tokensMin}–${result.batch256Mixed.tokensMax} tokens, ${tokensTotal} in all): ` +
      `${result.batch256Mixed.ms} ms, ${result.batch256Mixed.textsPerSecond} texts/s, ${result.batch256Mixed.tokensPerSecond} tokens/s`,
  );
  console.log(`  RSS after the batch ${result.rssMiBAfterBatch} MiB`);
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
  model: { preset: "bge-small-shape", dtype: "float32, random weights", bytes: statSync(model.path).size },
  results,
  reloadMsWithVerifiedSidecar: reloadMs,
  peakRssMiB,
};
const outDir = join(repoRoot, "bench-results");
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, "embed-onnx.json"), `${JSON.stringify(report, null, 2)}\n`);
console.log(`wrote ${join(outDir, "embed-onnx.json")}`);
