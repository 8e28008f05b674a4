/**
 * `pnpm bench locomo`: turn-level evidence recall on LoCoMo (../shared/datasets/locomo10.json,
 * CC BY-NC, never committed) through a real daemon's HTTP API, beside a plain BM25 baseline
 * computed in the same run. Each dialogue turn is one memory (`"Speaker: text"`) imported over
 * `POST /v1/import` (NDJSON) with `created_at` = its session's date, a tag per conversation and
 * the conversation as its `source_instance` (one chat, one writer); ids are UUIDv7 of the
 * session's time plus the turn's index in milliseconds, so a session's turns keep their order
 * (the thread recall reads: shared/src/recall/thread-context.ts). Each question of categories
 * 1–4 is recalled through `POST /v1/recall` (tag filter, limit 10, the default min_relevance).
 *
 *   pnpm bench locomo [--dataset FILE] [--embedding NAME] [--model-dir DIR] [--config FILE]
 *                     [--no-dates] [--dump FILE] [--ablations]
 *
 * The embedder is the daemon's choice for `--embedding` (default auto: bge-small-en-v1.5 where
 * its weights are installed, else the offline USE-lite), `--model-dir` and a config file's
 * embedding section (`_embedding-arg.ts`): `--embedding openai` with TRIBAL_MEMORY_EMBEDDING_BASE_URL
 * measures an embedding server. A model that does not load fails the run; a model other than
 * USE-lite writes its own report (bench-results/locomo-bge-small-en-v1.5.json, …).
 *
 * `--ablations` then recalls every question again in-process (the same daemon's MemoryService,
 * query vectors computed once) with each pipeline step switched off or on, beside the full
 * pipeline and plain BM25: the table the recall-quality bench prints for the generated set.
 *
 * `--no-dates` stamps every memory with the run's time (what an agent that never said when a
 * conversation happened would store). `--dump` writes each question's ranking (JSONL) for error
 * analysis. Prints a table and writes bench-results/locomo[-no-dates].json.
 */
import { writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { newMemoryId } from "@tribalmemory/shared/memory/ids";
import { DEFAULT_MIN_RELEVANCE } from "@tribalmemory/shared/memory/schemas";
import { startTestDaemon, tempHome } from "../helpers/daemon.ts";
import { benchEmbedding, loadBenchEmbedder } from "./_embedding-arg.ts";
import { locomoAblations } from "./_locomo-ablations.ts";
import { CATEGORY_NAMES, type LocomoTurn, loadLocomo } from "./_locomo-data.ts";
import { bm25Index, type Scores, scoreRankings } from "./_locomo-score.ts";
import { printSweep } from "./_relevance-sweep.ts";
import { writeReport } from "./_report.ts";

const args = process.argv.slice(2);
const arg = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const datasetPath = resolve(arg("--dataset") ?? join(repoRoot, "..", "shared", "datasets", "locomo10.json"));
const noDates = args.includes("--no-dates");
const dumpPath = arg("--dump");
const ablations = args.includes("--ablations");
const LIMIT = 10;

const progress = (s: string) => process.stderr.write(`\r${s}\x1b[K`);

async function main(): Promise<void> {
  const t0 = performance.now();
  const { turns, questions } = loadLocomo(datasetPath);
  const home = tempHome("tm-locomo-");
  const embedding = benchEmbedding(args, home.home);
  // Loaded once here first: a missing weights file or an unreachable endpoint fails the run with
  // the loader's message (the daemon would measure keyword recall, or wait for the endpoint).
  await (await loadBenchEmbedder(embedding, home.home))?.info.provider.close();
  const daemon = await startTestDaemon(home.home, {}, embedding);
  const token = daemon.api;
  try {
    const now = new Date().toISOString();
    const idToDia = new Map<string, string>();
    const lines = [JSON.stringify({ manifest: { schema_version: "1.0", memory_count: turns.length } })];
    let turnInSession = 0;
    for (const [i, t] of turns.entries()) {
      const sameSession = i > 0 && turns[i - 1].createdAt.getTime() === t.createdAt.getTime();
      turnInSession = sameSession ? turnInSession + 1 : 0;
      const id = newMemoryId(t.createdAt.getTime() + turnInSession);
      idToDia.set(id, t.diaId);
      lines.push(
        JSON.stringify({
          id,
          content: t.content,
          tags: [t.conversation],
          created_at: noDates ? now : t.createdAt.toISOString(),
          source_type: "import",
          source_instance: `locomo@${t.conversation}`,
          context: { dia_id: t.diaId, speaker: t.speaker },
        }),
      );
    }
    progress(`importing ${turns.length} turns…`);
    const imported = await token.raw("POST", "/v1/import", `${lines.join("\n")}\n`, "application/x-ndjson");
    if (imported.status !== 201)
      throw new Error(`import failed: ${imported.status} ${JSON.stringify(imported.body)}`);
    const importMs = performance.now() - t0;
    // Vectors follow the import in the background; recall before they land would be keyword-only.
    while ((await daemon.store.countMissingEmbeddings()) > 0 && daemon.service.embedding) {
      const b = daemon.service.backfill;
      progress(`embedding ${b.done}/${b.total} turns…`);
      await new Promise((r) => setTimeout(r, 500));
    }
    const embedMs = performance.now() - t0 - importMs;

    const byConv = new Map<string, LocomoTurn[]>();
    for (const t of turns) byConv.set(t.conversation, [...(byConv.get(t.conversation) ?? []), t]);
    const bm25 = new Map([...byConv].map(([c, ts]) => [c, bm25Index(ts)]));

    const pipeline: string[][] = [];
    const baseline: string[][] = [];
    const modes = { filter: 0, boost: 0, none: 0 };
    const dump: string[] = [];
    const recallMs: number[] = [];
    for (const [i, q] of questions.entries()) {
      if (i % 25 === 0) progress(`questions ${i}/${questions.length}…`);
      const s = performance.now();
      const r = await token.post("/v1/recall", { query: q.question, limit: LIMIT, tags: [q.conversation] });
      recallMs.push(performance.now() - s);
      if (r.status !== 200) throw new Error(`recall failed: ${r.status} ${JSON.stringify(r.body)}`);
      const mode = r.body.time_filter?.mode as "filter" | "boost" | undefined;
      modes[mode ?? (r.body.time_filter ? "filter" : "none")]++;
      if (dumpPath) dump.push(JSON.stringify({ ...q, time_filter: r.body.time_filter ?? null, ranked: [] }));
      pipeline.push(
        (r.body.results as { memory: { id: string } }[]).map((h) => idToDia.get(h.memory.id) ?? h.memory.id),
      );
      baseline.push(bm25.get(q.conversation)?.(q.question, LIMIT) ?? []);
    }
    progress("");
    if (dumpPath) {
      const rows = dump.map((line, i) =>
        JSON.stringify({ ...JSON.parse(line), ranked: pipeline[i], bm25: baseline[i] }),
      );
      writeFileSync(dumpPath, `${rows.join("\n")}\n`);
    }
    const full = scoreRankings(questions, pipeline);
    const bm = scoreRankings(questions, baseline);
    const totalS = (performance.now() - t0) / 1000;
    printTable(full, bm);
    recallMs.sort((a, b) => a - b);
    const summary = {
      dataset: datasetPath,
      embedding: daemon.embedder.model ?? "none",
      dates: !noDates,
      turns: turns.length,
      imported: imported.body.imported,
      duplicates: imported.body.duplicates,
      questions: questions.length,
      time_phrase_modes: modes,
      seconds: {
        import: Math.round(importMs) / 1000,
        embed: Math.round(embedMs) / 1000,
        total: Math.round(totalS * 10) / 10,
      },
      recall_ms_p50: Math.round(recallMs[Math.floor(recallMs.length / 2)] * 10) / 10,
      full_pipeline: full,
      bm25: bm,
    };
    console.log(
      `${summary.embedding}, dates ${noDates ? "off" : "on"}; ${turns.length} turns (${summary.imported} imported), ` +
        `${questions.length} questions; time phrases: ${JSON.stringify(modes)}; ` +
        `import ${summary.seconds.import}s, embed ${summary.seconds.embed}s, total ${summary.seconds.total}s, recall p50 ${summary.recall_ms_p50} ms`,
    );
    let steps: Awaited<ReturnType<typeof locomoAblations>> | undefined;
    if (ablations) {
      // What HTTP recall used, so the in-process rows compare with the table above.
      const defaults = {
        limit: LIMIT,
        min_relevance: DEFAULT_MIN_RELEVANCE,
        include_superseded: false,
        sources: "memories" as const,
      };
      steps = await locomoAblations(
        daemon.service,
        questions,
        (id) => idToDia.get(id) ?? id,
        defaults,
        progress,
      );
      printAblations(steps.rows, bm);
      printSweep(
        "min_relevance on the full pipeline (in-process; LoCoMo has no no-answer questions here)",
        steps.sweep,
      );
    }
    writeReport(`locomo${reportSuffix(daemon.embedder.model)}${noDates ? "-no-dates" : ""}`, {
      ...summary,
      ...(steps ? { ablations: steps.rows, min_relevance_sweep: steps.sweep } : {}),
    });
  } finally {
    await daemon.close();
    home.cleanup();
  }
}

/** USE-lite, the offline default, writes bench-results/locomo.json; another model its own file. */
function reportSuffix(model: string | null): string {
  if (model === null) return "-no-vectors";
  const id = model.split(" ")[0];
  return id.startsWith("use-lite") ? "" : `-${id.replace(/[^a-z0-9.-]+/gi, "-")}`;
}

function printAblations(rows: Record<string, Record<string, Scores>>, bm: Record<string, Scores>): void {
  const cats = [...Object.values(CATEGORY_NAMES), "overall"];
  console.log(`\nablation (in-process), recall@5 | ${cats.join(" / ")}`);
  for (const [name, r] of [...Object.entries(rows), ["plain BM25", bm] as const]) {
    console.log(
      `${name.padEnd(26)} ${cats.map((c) => r[c]["recall@5"].toFixed(3)).join("  ")}  r@10 ${r.overall["recall@10"].toFixed(3)}`,
    );
  }
}

function printTable(full: Record<string, Scores>, bm: Record<string, Scores>): void {
  const f = (x: number) => x.toFixed(3);
  console.log(
    `${"category".padEnd(12)} ${"n".padStart(5)}  full r@1  r@5   r@10  hit@5 | bm25 r@1  r@5   r@10  hit@5`,
  );
  for (const g of [...Object.values(CATEGORY_NAMES), "overall"]) {
    const a = full[g];
    const b = bm[g];
    console.log(
      `${g.padEnd(12)} ${String(a.n).padStart(5)}  ${f(a["recall@1"])}  ${f(a["recall@5"])} ${f(a["recall@10"])} ${f(a["hit@5"])} |     ${f(b["recall@1"])}  ${f(b["recall@5"])} ${f(b["recall@10"])} ${f(b["hit@5"])}`,
    );
  }
}

await main();
