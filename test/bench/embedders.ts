/**
 * Which offline embedder should the daemon default to? Measures, on the repo's evaluation set
 * (test/eval), vector-only retrieval quality per query category, with a BM25 baseline beside
 * it, plus load time, RSS and embedding latency.
 *
 *   node test/bench/embedders.ts [--only glove-sif,use-lite] [--cache-dir DIR] [--out FILE]
 *
 * Each provider runs in its own child process so load time and RSS are its own. Superseded
 * memories are left out of every ranking, as recall does (DESIGN.md, Recall step 6).
 * Prints a table and writes bench-results/embedders.json; never fails for being slow.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { EmbeddingProvider } from "../../shared/src/embed/provider.ts";
import {
  type CategoryReport,
  contentTokens,
  type EvalMemory,
  type EvalQuery,
  evaluateRankings,
  loadDataset,
  QUERY_CATEGORIES,
  supersededIds,
} from "../eval/dataset.ts";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const TOP_N = 50;

interface ProviderSpec {
  name: string;
  module: string;
  options: Record<string, unknown>;
  /** Measure only the first load into an empty cache folder. */
  loadOnly?: boolean;
}

interface ChildResult {
  name: string;
  modelId: string;
  dims: number;
  loadMs: number;
  rssBeforeMb: number;
  rssAfterLoadMb: number;
  rssAfterEmbedMb: number;
  maxRssMb: number;
  /** Memories (mean 230 chars, up to 1,500) embedded in batches of 32. */
  batchMsPerText?: number;
  /** Queries (mean 54 chars) embedded in batches of 32. */
  batchShortMsPerText?: number;
  singleMs?: { mean: number; p50: number; p95: number };
  rankings?: Record<string, string[]>;
  scores?: Record<string, number[]>;
}

// ---------------------------------------------------------------- child: one provider

async function runChild(spec: ProviderSpec, outFile: string): Promise<void> {
  const mb = (n: number) => Math.round((n / 1048576) * 10) / 10;
  const rssBefore = process.memoryUsage().rss;
  const t0 = performance.now();
  const mod = (await import(spec.module)) as {
    createProvider(o: Record<string, unknown>): Promise<EmbeddingProvider>;
  };
  const provider = await mod.createProvider(spec.options);
  const loadMs = performance.now() - t0;
  const rssAfterLoad = process.memoryUsage().rss;
  const result: ChildResult = {
    name: spec.name,
    modelId: provider.modelId,
    dims: provider.dims,
    loadMs,
    rssBeforeMb: mb(rssBefore),
    rssAfterLoadMb: mb(rssAfterLoad),
    rssAfterEmbedMb: mb(rssAfterLoad),
    maxRssMb: 0,
  };
  if (!spec.loadOnly) {
    const { memories, queries } = loadDataset();
    const hidden = supersededIds(memories);
    const visible = memories.filter((m) => !hidden.has(m.id));
    await provider.embed(["warm up the model"], "query");

    const t1 = performance.now();
    const vectors: Float32Array[] = [];
    for (let i = 0; i < visible.length; i += 32) {
      vectors.push(
        ...(await provider.embed(
          visible.slice(i, i + 32).map((m) => m.content),
          "passage",
        )),
      );
    }
    result.batchMsPerText = (performance.now() - t1) / visible.length;

    // Short texts in batches of 32 (the queries), to separate batching from text length.
    const t2 = performance.now();
    for (let i = 0; i < queries.length; i += 32)
      await provider.embed(
        queries.slice(i, i + 32).map((q) => q.query),
        "query",
      );
    result.batchShortMsPerText = (performance.now() - t2) / queries.length;

    const times: number[] = [];
    const qvecs: Float32Array[] = [];
    for (const q of queries) {
      const t = performance.now();
      qvecs.push((await provider.embed([q.query], "query"))[0]);
      times.push(performance.now() - t);
    }
    times.sort((a, b) => a - b);
    result.singleMs = {
      mean: times.reduce((a, b) => a + b, 0) / times.length,
      p50: times[Math.floor(times.length * 0.5)],
      p95: times[Math.floor(times.length * 0.95)],
    };
    result.rssAfterEmbedMb = mb(process.memoryUsage().rss);

    result.rankings = {};
    result.scores = {};
    queries.forEach((q, qi) => {
      const qv = qvecs[qi];
      const scored = vectors.map((v, i) => {
        let dot = 0;
        for (let d = 0; d < v.length; d++) dot += v[d] * qv[d];
        return [dot, i] as const;
      });
      scored.sort((a, b) => b[0] - a[0]);
      const top = scored.slice(0, TOP_N);
      (result.rankings as Record<string, string[]>)[q.id] = top.map(([, i]) => visible[i].id);
      (result.scores as Record<string, number[]>)[q.id] = top.map(([s]) => Math.round(s * 1e4) / 1e4);
    });
  }
  await provider.close();
  result.maxRssMb = Math.round(process.resourceUsage().maxRSS / 1024);
  writeFileSync(outFile, JSON.stringify(result));
}

// ---------------------------------------------------------------- BM25 baseline

/**
 * A small BM25 (k1 1.2, b 0.75) over the tokens FTS5's unicode61 tokenizer would see (any
 * non-alphanumeric splits, so `billing-service` is two terms), lightly stemmed, stopwords
 * dropped and query terms OR-ed — the shape DESIGN.md gives the daemon's keyword list.
 */
function bm25Rankings(
  memories: EvalMemory[],
  queries: EvalQuery[],
): { rankings: Map<string, string[]>; top1: Map<string, number> } {
  const k1 = 1.2;
  const b = 0.75;
  const docs = memories.map((m) => {
    const tokens = contentTokens(m.content);
    const tf = new Map<string, number>();
    for (const t of tokens) tf.set(t, (tf.get(t) ?? 0) + 1);
    return { id: m.id, tf, len: tokens.length };
  });
  const avg = docs.reduce((a, d) => a + d.len, 0) / docs.length;
  const df = new Map<string, number>();
  for (const d of docs) for (const t of d.tf.keys()) df.set(t, (df.get(t) ?? 0) + 1);
  const n = docs.length;
  const rankings = new Map<string, string[]>();
  const top1 = new Map<string, number>();
  for (const q of queries) {
    const terms = [...new Set(contentTokens(q.query))];
    const scored: Array<[number, string]> = [];
    for (const d of docs) {
      let s = 0;
      for (const t of terms) {
        const f = d.tf.get(t);
        if (!f) continue;
        const idf = Math.log(1 + (n - (df.get(t) ?? 0) + 0.5) / ((df.get(t) ?? 0) + 0.5));
        s += (idf * f * (k1 + 1)) / (f + k1 * (1 - b + (b * d.len) / avg));
      }
      if (s > 0) scored.push([s, d.id]);
    }
    scored.sort((x, y) => y[0] - x[0]);
    rankings.set(
      q.id,
      scored.slice(0, TOP_N).map(([, id]) => id),
    );
    top1.set(q.id, scored[0]?.[0] ?? 0);
  }
  return { rankings, top1 };
}

/** Reciprocal-rank fusion with per-list weights (k = 60). */
function fuse(lists: Array<[Map<string, string[]>, number]>, queries: EvalQuery[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const q of queries) {
    const score = new Map<string, number>();
    for (const [ranking, weight] of lists) {
      for (const [r, id] of (ranking.get(q.id) ?? []).entries())
        score.set(id, (score.get(id) ?? 0) + weight / (60 + r + 1));
    }
    out.set(
      q.id,
      [...score].sort((a, b) => b[1] - a[1]).map(([id]) => id),
    );
  }
  return out;
}

/**
 * How well the top-1 score separates answerable queries from no-answer ones (ROC AUC):
 * 1.0 means a `min_relevance` threshold can drop every no-answer query and keep every answer.
 */
function noAnswerAuc(queries: EvalQuery[], top1: (q: EvalQuery) => number): number {
  const pos = queries.filter((q) => q.relevant_ids.length > 0).map(top1);
  const neg = queries.filter((q) => q.relevant_ids.length === 0).map(top1);
  let wins = 0;
  for (const p of pos) for (const n of neg) wins += p > n ? 1 : p === n ? 0.5 : 0;
  return wins / (pos.length * neg.length);
}

// ---------------------------------------------------------------- parent

function runSpec(spec: ProviderSpec): ChildResult | null {
  const dir = mkdtempSync(join(tmpdir(), "bench-embed-"));
  const out = join(dir, "result.json");
  const child = spawnSync(
    process.execPath,
    [fileURLToPath(import.meta.url), "--child", JSON.stringify(spec), out],
    {
      stdio: ["ignore", "inherit", "inherit"],
      cwd: ROOT,
    },
  );
  try {
    if (child.status !== 0) {
      console.error(`${spec.name}: child exited with ${child.status}`);
      return null;
    }
    return JSON.parse(readFileSync(out, "utf8")) as ChildResult;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function fmt(x: number | undefined, digits = 3): string {
  return x === undefined || Number.isNaN(x) ? "–" : x.toFixed(digits);
}

function printQualityTable(rows: Array<[string, CategoryReport]>): void {
  const cats = [...QUERY_CATEGORIES.filter((c) => c !== "no-answer"), "overall"] as const;
  const head = ["method".padEnd(36), ...cats.map((c) => c.padStart(15))].join(" ");
  console.log("\nrecall@5 / MRR (vector-only for embedders; superseded memories hidden)");
  console.log(head);
  for (const [name, r] of rows) {
    console.log(
      [
        name.padEnd(36),
        ...cats.map((c) => `${fmt(r[c]?.["recall@5"], 2)} / ${fmt(r[c]?.mrr, 2)}`.padStart(15)),
      ].join(" "),
    );
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === "--child") {
    await runChild(JSON.parse(args[1]) as ProviderSpec, args[2]);
    return;
  }
  const arg = (name: string): string | undefined => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const cacheDir = resolve(arg("--cache-dir") ?? join(ROOT, ".tmp", "models", "glove-sif-100d"));
  const outFile = resolve(arg("--out") ?? join(ROOT, "bench-results", "embedders.json"));
  const only = arg("--only")?.split(",");
  const glove = join(ROOT, "shared/src/embed/glove-sif.ts");
  const use = join(ROOT, "shared/src/embed/use-lite.ts");
  const coldDir = mkdtempSync(join(tmpdir(), "glove-cold-"));
  const specs: ProviderSpec[] = [
    { name: "glove-sif (first load)", module: glove, options: { cacheDir: coldDir }, loadOnly: true },
    { name: "glove-sif", module: glove, options: { cacheDir } },
    { name: "glove-sif no-common-comp", module: glove, options: { cacheDir, removeCommonComponent: false } },
    { name: "glove-sif no-unknown-hash", module: glove, options: { cacheDir, hashUnknownWords: false } },
    { name: "use-lite", module: use, options: {} },
  ].filter((s) => !only || only.some((o) => s.name.startsWith(o)));

  const { memories, queries } = loadDataset();
  const hidden = supersededIds(memories);
  const visible = memories.filter((m) => !hidden.has(m.id));
  console.log(`data set: ${memories.length} memories (${visible.length} visible), ${queries.length} queries`);

  const t = performance.now();
  const bm25 = bm25Rankings(visible, queries);
  const bm25Ms = (performance.now() - t) / queries.length;
  const quality: Array<[string, CategoryReport]> = [
    ["bm25 (baseline)", evaluateRankings(queries, bm25.rankings)],
  ];
  const aucs: Record<string, number> = {
    "bm25 (baseline)": noAnswerAuc(queries, (q) => bm25.top1.get(q.id) ?? 0),
  };
  const results: ChildResult[] = [];
  for (const spec of specs) {
    console.log(`running ${spec.name} …`);
    const r = runSpec(spec);
    if (!r) continue;
    results.push(r);
    if (!r.rankings || !r.scores) continue;
    const rankings = new Map(Object.entries(r.rankings));
    quality.push([r.name, evaluateRankings(queries, rankings)]);
    aucs[r.name] = noAnswerAuc(queries, (q) => r.scores?.[q.id]?.[0] ?? 0);
    // For the fusion issue: plain RRF and RRF that trusts BM25 more (DESIGN.md: a weak embedder is a hint).
    quality.push([
      `  bm25+${r.name} rrf 1:1`,
      evaluateRankings(
        queries,
        fuse(
          [
            [bm25.rankings, 1],
            [rankings, 1],
          ],
          queries,
        ),
      ),
    ]);
    quality.push([
      `  bm25+${r.name} rrf 1:0.5`,
      evaluateRankings(
        queries,
        fuse(
          [
            [bm25.rankings, 1],
            [rankings, 0.5],
          ],
          queries,
        ),
      ),
    ]);
  }
  rmSync(coldDir, { recursive: true, force: true });

  printQualityTable(quality);
  console.log("\nno-answer separation (ROC AUC of top-1 score, answerable vs no-answer)");
  for (const [name, auc] of Object.entries(aucs)) console.log(`${name.padEnd(36)} ${fmt(auc)}`);
  console.log("\ncost (load into a fresh process; RSS = resident set of that process)");
  console.log(
    `${"provider".padEnd(36)} ${"load ms".padStart(9)} ${"rss after load".padStart(15)} ${"max rss".padStart(9)} ${"single ms p50/p95".padStart(18)} ${"batch ms/text mem/query".padStart(24)}`,
  );
  for (const r of results) {
    console.log(
      `${r.name.padEnd(36)} ${fmt(r.loadMs, 0).padStart(9)} ${`${fmt(r.rssAfterLoadMb, 0)} MB (+${fmt(r.rssAfterLoadMb - r.rssBeforeMb, 0)})`.padStart(15)} ${`${r.maxRssMb} MB`.padStart(9)} ${(r.singleMs ? `${fmt(r.singleMs.p50, 3)}/${fmt(r.singleMs.p95, 3)}` : "–").padStart(18)} ${`${fmt(r.batchMsPerText, 3)}/${fmt(r.batchShortMsPerText, 3)}`.padStart(24)}`,
    );
  }
  console.log(`bm25 (in-process, ${visible.length} docs, no index): ${fmt(bm25Ms, 2)} ms per query`);

  mkdirSync(dirname(outFile), { recursive: true });
  writeFileSync(
    outFile,
    `${JSON.stringify(
      {
        date: new Date().toISOString(),
        node: process.version,
        dataset: { memories: memories.length, visible: visible.length, queries: queries.length },
        quality: Object.fromEntries(quality.map(([n, r]) => [n.trim(), r])),
        noAnswerAuc: aucs,
        cost: results.map(({ rankings: _r, scores: _s, ...rest }) => rest),
      },
      null,
      2,
    )}\n`,
  );
  console.log(`\nwrote ${outFile}`);
}

await main();
