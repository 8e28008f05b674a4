/**
 * `pnpm bench recall-quality`: recall@1/5/10, MRR and nDCG@10 per query category of the
 * labelled set (test/eval), for keyword-only, vector-only, fused (keyword + vector RRF) and
 * the full pipeline — single signals are their list alone: the query's time phrase is the
 * `time` signal, a pipeline step — plus the daemon's previous pipeline (fused + time filter)
 * and one row per step switched off or on
 * (the evidence each step is kept or left off for). Runs the daemon's own code: the eval
 * memories go into a SqliteMemoryStore through MemoryService.insertExact, and every query
 * goes through MemoryService.recall with an offline embedder (USE-lite, the daemon's default, or
 * glove-sif) and its calibration. Vectors are cached in `.tmp/embed-cache/` keyed by model and
 * content hash, so reruns skip embedding (USE-lite takes minutes for the set).
 *
 *   pnpm bench recall-quality [--embedder use-lite|glove] [--cache-dir DIR] [--no-ablations] [--db PATH]
 *   pnpm bench recall-quality --embedding NAME [--model-dir DIR] [--config FILE] [--no-ablations]
 *
 * The second form runs the embedder the daemon would choose for those arguments
 * (`_embedding-arg.ts`: bge-small-en-v1.5's weights where `models pull` put them or `--model-dir`
 * says, an OpenAI-compatible server named by a config file or TRIBAL_MEMORY_EMBEDDING_BASE_URL),
 * with its own calibration. Its vectors are not cached: a name does not pin a configured model's
 * weights. A model other than USE-lite writes bench-results/recall-quality-<model>.json.
 *
 * Prints a table and writes bench-results/recall-quality.json; never fails for being slow.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { SqliteMemoryStore } from "@tribalmemory/daemon/store/sqlite-store";
import { createProvider as createGlove } from "@tribalmemory/shared/embed/glove-sif";
import type { EmbeddingProvider } from "@tribalmemory/shared/embed/provider";
import { CALIBRATIONS } from "@tribalmemory/shared/embed/select-embedder";
import { createProvider as createUseLite, USE_LITE_MODEL_ID } from "@tribalmemory/shared/embed/use-lite";
import { newActorId } from "@tribalmemory/shared/memory/document";
import type { Memory } from "@tribalmemory/shared/memory/types";
import { DEFAULT_RECALL_STEPS, type RecallSteps } from "@tribalmemory/shared/recall/pipeline";
import { MemoryService } from "@tribalmemory/shared/service/memory-service";
import {
  type CategoryReport,
  type EvalQuery,
  evaluateRankings,
  loadDataset,
  QUERY_CATEGORIES,
} from "../eval/dataset.ts";
import { eventQueries } from "../eval/generate-event-queries.ts";
import { asksForEmbedding, benchEmbedding, loadBenchEmbedder } from "./_embedding-arg.ts";
import { printSweep, relevanceSweep, type ScoredQuery } from "./_relevance-sweep.ts";
import { summarize, writeReport } from "./_report.ts";
import { cachedProvider } from "./_vector-cache.ts";

const args = process.argv.slice(2);
const arg = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const cacheDir = resolve(arg("--cache-dir") ?? join(process.cwd(), ".tmp", "models", "glove-sif-100d"));
const ablations = !args.includes("--no-ablations");
const embedder = arg("--embedder") ?? "use-lite";
if (embedder !== "use-lite" && embedder !== "glove") throw new Error("--embedder must be use-lite or glove");
const configured = asksForEmbedding(args);
if (configured && args.includes("--embedder"))
  throw new Error("--embedder and --embedding are two ways to choose: give one");
const calibrationKey = embedder === "glove" ? "glove" : "use";
// `--calibration floor,ceiling,weight` tries other levels than select-embedder's.
const calibrationArg = arg("--calibration")?.split(",").map(Number);
const calibrationOf = (c: number[]) => ({ floor: c[0], ceiling: c[1], weight: c[2] });
const defaultCalibration = CALIBRATIONS[calibrationKey].calibration;
const LIMIT = 10;

const NONE: Partial<RecallSteps> = {
  timeFilter: false,
  keyword: false,
  keywordCoverage: false,
  vector: false,
  entity: false,
  hop: false,
  eventDates: false,
  thread: false,
  entityOverlap: false,
  speaker: false,
  questions: false,
  confidence: false,
  mmr: false,
  recency: false,
};

const variants: { name: string; steps: Partial<RecallSteps>; main?: boolean }[] = [
  { name: "keyword-only", steps: { ...NONE, keyword: true }, main: true },
  { name: "vector-only", steps: { ...NONE, vector: true }, main: true },
  { name: "fused (keyword+vector)", steps: { ...NONE, keyword: true, vector: true }, main: true },
  { name: "full pipeline", steps: DEFAULT_RECALL_STEPS, main: true },
  // The daemon's pipeline before this work: fused lists + the query's time phrase on created_at.
  { name: "fused + time filter", steps: { ...NONE, keyword: true, vector: true, timeFilter: true } },
];
if (ablations) {
  for (const step of Object.keys(DEFAULT_RECALL_STEPS) as (keyof RecallSteps)[]) {
    const on = DEFAULT_RECALL_STEPS[step];
    variants.push({
      name: `  full ${on ? "-" : "+"} ${step}`,
      steps: { ...DEFAULT_RECALL_STEPS, [step]: !on },
    });
  }
}

/**
 * `--latency-db PATH`: recall latency (excluding query embedding) on a daemon bench store
 * (bench-results/cache/recall-N.db): the previous pipeline, the full one without the thread
 * step and the full one, interleaved query by query so all see the same machine load.
 */
async function latencyOnly(path: string): Promise<void> {
  const { syntheticCorpus, queryFor, rng } = await import("./_corpus.ts");
  const store = new SqliteMemoryStore({ path });
  const size = (await store.stats()).total_memories;
  const corpus = syntheticCorpus(size);
  const random = rng(7);
  const qs = Array.from({ length: 300 }, () => queryFor(corpus, Math.floor(random() * size), random));
  const table = new Map(qs.map((q) => [q.text, q.vector]));
  const svc = new MemoryService({ store, actor: newActorId(), instanceId: "bench" });
  await svc.setEmbedder({
    provider: {
      modelId: "bge-small-en-v1.5",
      dims: 384,
      embed: async (texts) => texts.map((t) => table.get(t) ?? new Float32Array(384)),
      close: async () => {},
    },
    calibration: { floor: 0.3, ceiling: 0.9, weight: 1 },
    dedupCosine: null,
  });
  const previous: Partial<RecallSteps> = { ...NONE, keyword: true, vector: true, timeFilter: true };
  const times: Record<string, number[]> = { previous: [], "full - thread": [], full: [] };
  const body = (query: string) => ({
    query,
    limit: 10,
    min_relevance: 0,
    include_superseded: false,
    sources: "memories" as const,
  });
  for (const q of qs.slice(0, 20)) await svc.recall(body(q.text));
  for (const q of qs) {
    for (const [name, steps] of [
      ["previous", previous],
      ["full - thread", { ...DEFAULT_RECALL_STEPS, thread: false }],
      ["full", DEFAULT_RECALL_STEPS],
    ] as const) {
      const out = await svc.recall(body(q.text), steps);
      times[name].push(out.timings.totalMs - out.timings.embedMs);
    }
  }
  console.log(`recall latency at ${size} memories, ms excluding embedding`);
  for (const [name, t] of Object.entries(times))
    console.log(`  ${name.padEnd(13)} ${JSON.stringify(summarize(t))}`);
  await store.close();
}

async function main(): Promise<void> {
  const latencyDb = arg("--latency-db");
  if (latencyDb) return latencyOnly(latencyDb);
  const { memories, queries } = loadDataset();
  // Event-date queries (test/eval/generate-event-queries.ts) are scored apart, so "overall"
  // stays the labelled set's own figure.
  const events = eventQueries();
  const dir = mkdtempSync(join(tmpdir(), "recall-quality-"));
  const store = new SqliteMemoryStore({ path: arg("--db") ?? join(dir, "memories.db") });
  let now = new Date("2025-06-30T17:00:00Z");
  const svc = new MemoryService({ store, actor: newActorId(), instanceId: "bench", now: () => now });
  const t0 = performance.now();
  const chosen = configured ? await loadBenchEmbedder(benchEmbedding(args, dir), dir) : null;
  if (configured && !chosen) throw new Error("--embedding none: this bench measures recall with an embedder");
  const calibration = calibrationArg
    ? calibrationOf(calibrationArg)
    : (chosen?.info.calibration ?? defaultCalibration);
  const cache = chosen
    ? null
    : cachedProvider(
        embedder === "glove" ? await createGlove({ cacheDir }) : await createUseLite({}),
        join(process.cwd(), ".tmp", "embed-cache"),
      );
  const provider = chosen?.info.provider ?? (cache as EmbeddingProvider);
  await svc.setEmbedder({
    provider,
    calibration,
    dedupCosine: chosen ? chosen.info.dedupCosine : CALIBRATIONS[calibrationKey].dedupCosine,
  });
  const loadMs = performance.now() - t0;
  const t1 = performance.now();
  const items = memories.map((m) => ({
    memory: {
      id: m.id,
      content: m.content,
      source_type: m.source_type,
      source_instance: m.source_instance,
      tags: m.tags,
      context: null,
      confidence: 1,
      supersedes: m.supersedes ?? null,
      duplicate_of: null,
      created_at: m.created_at,
      updated_at: m.created_at,
      deleted: false,
    } satisfies Memory,
  }));
  for (let i = 0; i < items.length; i += 256) await svc.insertExact(items.slice(i, i + 256));
  const insertMs = performance.now() - t1;
  cache?.flush();
  console.log(
    `data set: ${memories.length} memories, ${queries.length} queries; embedder ${provider.modelId} ${JSON.stringify(calibration)} (load ${Math.round(loadMs)} ms), insert ${Math.round(insertMs)} ms`,
  );

  const reports: Record<string, CategoryReport> = {};
  const aucs: Record<string, number> = {};
  const latency: Record<string, ReturnType<typeof summarize>> = {};
  const scored: ScoredQuery[] = [];
  for (const v of variants) {
    const rankings = new Map<string, string[]>();
    const top1 = new Map<string, number>();
    const times: number[] = [];
    for (const q of [...queries, ...events]) {
      now = new Date(q.reference_date);
      const out = await svc.recall(
        {
          query: q.query,
          limit: LIMIT,
          min_relevance: 0,
          include_superseded: false,
          sources: "memories",
        },
        v.steps,
      );
      // Excluding query embedding, as the daemon's latency figure does.
      times.push(out.timings.totalMs - out.timings.embedMs);
      rankings.set(
        q.id,
        out.results.map((r) => r.memory.id),
      );
      top1.set(q.id, out.results[0]?.score ?? 0);
      if (v.name === "full pipeline" && !q.id.startsWith("q-temporal-event-"))
        scored.push({
          results: out.results.map((r) => ({ id: r.memory.id, score: r.score })),
          relevant: q.relevant_ids,
        });
    }
    reports[v.name.trim()] = {
      ...evaluateRankings(queries, rankings),
      "temporal-event": evaluateRankings(events, rankings).overall,
    } as CategoryReport;
    aucs[v.name.trim()] = noAnswerAuc(queries, (q) => top1.get(q.id) ?? 0);
    latency[v.name.trim()] = summarize(times);
  }
  await svc.setEmbedder(null);
  await provider.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });

  const cats = [...QUERY_CATEGORIES.filter((c) => c !== "no-answer"), "temporal-event", "overall"] as const;
  const fmt = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? "  –  " : x.toFixed(3));
  console.log(`\nrecall@5 / MRR per category (limit ${LIMIT}; superseded memories hidden by recall)`);
  console.log(
    [
      "variant".padEnd(26),
      ...cats.map((c) => c.padStart(13)),
      "no-ans AUC".padStart(11),
      "p50 ms".padStart(7),
    ].join(" "),
  );
  for (const v of variants) {
    const r = reports[v.name.trim()];
    console.log(
      [
        v.name.padEnd(26),
        ...cats.map((c) => {
          const m = (r as Record<string, CategoryReport["overall"]>)[c];
          return `${fmt(m?.["recall@5"])}/${fmt(m?.mrr)}`.padStart(13);
        }),
        fmt(aucs[v.name.trim()]).padStart(11),
        latency[v.name.trim()].p50.toFixed(2).padStart(7),
      ].join(" "),
    );
  }
  console.log("\nall metrics, overall (answerable queries)");
  console.log(
    [
      "variant".padEnd(26),
      ...["recall@1", "recall@5", "recall@10", "mrr", "ndcg@10"].map((m) => m.padStart(9)),
    ].join(" "),
  );
  for (const v of variants) {
    const o = reports[v.name.trim()].overall;
    console.log(
      [
        v.name.padEnd(26),
        ...(["recall@1", "recall@5", "recall@10", "mrr", "ndcg@10"] as const).map((m) =>
          fmt(o?.[m]).padStart(9),
        ),
      ].join(" "),
    );
  }
  const sweep = relevanceSweep(scored);
  printSweep("min_relevance on the full pipeline (answerable recall@5; no-answer queries)", sweep);
  const model = provider.modelId;
  writeReport(
    model === USE_LITE_MODEL_ID ? "recall-quality" : `recall-quality-${model.replace(/[^a-z0-9.-]+/gi, "-")}`,
    {
      min_relevance_sweep: sweep,
      dataset: { memories: memories.length, queries: queries.length, event_queries: events.length },
      embedder: provider.modelId,
      calibration,
      limit: LIMIT,
      variants: variants.map((v) => ({
        name: v.name.trim(),
        steps: { ...DEFAULT_RECALL_STEPS, ...v.steps },
        metrics: reports[v.name.trim()],
        no_answer_auc: aucs[v.name.trim()],
        latency_ms_excluding_embedding: latency[v.name.trim()],
      })),
    },
  );
}

/** ROC AUC of the top-1 score, answerable vs no-answer: can a min_relevance threshold tell them apart? */
function noAnswerAuc(queries: EvalQuery[], top1: (q: EvalQuery) => number): number {
  const pos = queries.filter((q) => q.relevant_ids.length > 0).map(top1);
  const neg = queries.filter((q) => q.relevant_ids.length === 0).map(top1);
  let wins = 0;
  for (const p of pos) for (const n of neg) wins += p > n ? 1 : p === n ? 0.5 : 0;
  return wins / (pos.length * neg.length);
}

await main();
