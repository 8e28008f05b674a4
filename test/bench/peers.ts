/**
 * `pnpm bench peers`: this daemon beside what users would pick instead, in one run and one
 * process tree, the same corpus and the SAME vectors fed to every engine, the query embedding
 * excluded from latency (query vectors precomputed), except in the row that says it includes it.
 *
 *   pnpm bench peers [--sizes locomo,100000,1000000] [--queries 200] [--engines daemon,lancedb,…]
 *                    [--dataset FILE] [--rebuild] [--rounds 3]
 *
 * Sizes: `locomo` (../shared/datasets/locomo10.json: one index per conversation, each turn a
 * memory, USE-lite vectors; quality = turn-level evidence recall@5 over categories 1–4) and
 * synthetic N (test/bench/_corpus.ts: seeded clustered 384-d unit vectors; latency and RSS, plus
 * each engine's vector index recall@10 against exact). Every engine at every size runs in a
 * child process of its own, and an on-disk engine builds in one child and answers in another, so
 * the RSS printed is the engine's index, not the corpus it was built from (for a server: the
 * server process). Built indexes are kept under bench-results/cache/peers-idx/ (`--rebuild`).
 * Engines: test/bench/_peers/*.ts. Prints one table and writes bench-results/peers.json.
 *
 * Up to 100k memories every engine runs `--rounds` times (default 3), the engines taking turns,
 * and each row is its median round: on a shared VM the same engine's p50 moved by 40% between
 * two runs a minute apart, and engines measured one after the other saw different machines.
 * Larger sizes run once (their rounds would take hours). Each LoCoMo conversation's index is
 * first asked 100 questions of the other conversations, as an index that has been answering;
 * its own questions are each asked once, timed.
 */
import { spawn } from "node:child_process";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { loadavg } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { USE_LITE_MODEL_ID } from "@tribalmemory/shared/embed/use-lite";
import { CATEGORY_NAMES } from "./_locomo-data.ts";
import { scoreRankings } from "./_locomo-score.ts";
import { daemonHttp, daemonHttpEmbed, daemonInProcess } from "./_peers/daemon.ts";
import { type BuildInfo, type PeerEngine, type PeerIndex, type PeerQuery, rssMiB } from "./_peers/engine.ts";
import {
  ensureSynthetic,
  locomoFixture,
  SYNTHETIC_DIMS,
  SYNTHETIC_MODEL_ID,
  syntheticBatches,
  syntheticQueries,
} from "./_peers/fixtures.ts";
import { lanceFlat, lanceIvfPq } from "./_peers/lancedb.ts";
import { mcpMemory } from "./_peers/mcp-memory.ts";
import { orama } from "./_peers/orama.ts";
import { sqliteRrf } from "./_peers/sqlite-rrf.ts";
import { summarize, writeReport } from "./_report.ts";

const ENGINES: PeerEngine[] = [
  daemonInProcess,
  daemonHttp,
  daemonHttpEmbed,
  lanceFlat,
  lanceIvfPq,
  orama,
  sqliteRrf,
  mcpMemory,
];
/** The daemon's three rows read one store: built once. */
const buildName = (e: PeerEngine) => (e.name.startsWith("daemon") ? "daemon" : e.name);

const args = process.argv.slice(2);
const arg = (name: string): string | undefined => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const datasetPath = resolve(arg("dataset") ?? join(repoRoot, "..", "shared", "datasets", "locomo10.json"));
const cacheDir = join(process.cwd(), "bench-results", "cache");
const queryCount = Number(arg("queries") ?? 200);
/** Questions of other conversations asked of each conversation's index before its own are timed. */
const LOCOMO_WARMUP = 100;
/** Rounds up to 100k memories, the engines taking turns; larger sizes run once. */
const roundsArg = Math.max(1, Number(arg("rounds") ?? 3));
const roundsAt = (size: Size) => (size === "locomo" || size <= 100_000 ? roundsArg : 1);
const K = 10;
type Size = number | "locomo";
const parseSize = (s: string): Size => (s === "locomo" ? "locomo" : Number(s));
const progress = (s: string) => process.stderr.write(`\r${s}\x1b[K`);
const log = (s: string) => process.stdout.write(`${s}\n`);

interface RunResult {
  latency_ms: ReturnType<typeof summarize>;
  rss_mib: number;
  /** What `rss_mib` measured: this engine's process, or its server's. */
  rss_of: string;
  recall_at_5?: number;
  by_category?: Record<string, number>;
  ann_recall_at_10?: number;
  /** p50 ms of each part (the daemon: its two candidate searches beside the whole recall). */
  profile_p50_ms?: Record<string, number>;
  queries: number;
  /** Each round's p50 when the size ran in rounds (this result is the median one). */
  round_p50s?: number[];
}

interface Row {
  engine: string;
  label: string;
  size: Size;
  skipped?: string;
  error?: string;
  build_s?: number;
  result?: RunResult;
}

function indexDir(e: PeerEngine, size: Size): string {
  return join(cacheDir, "peers-idx", `${buildName(e)}-${size}`);
}

function buildInfo(size: Size, count: number): BuildInfo {
  return size === "locomo"
    ? { dims: 512, modelId: USE_LITE_MODEL_ID, count }
    : { dims: SYNTHETIC_DIMS, modelId: SYNTHETIC_MODEL_ID, count };
}

// ------------------------------------------------------------------ child: build or run one engine

async function childBuild(e: PeerEngine, size: Size): Promise<void> {
  const dir = indexDir(e, size);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  if (size === "locomo") {
    const fx = await locomoFixture(datasetPath, cacheDir, false);
    for (const [conv, docs] of fx.conversations)
      await e.build(join(dir, conv), [docs], buildInfo(size, docs.length));
  } else {
    let n = 0;
    const batches = (function* () {
      for (const b of syntheticBatches(size, cacheDir)) {
        yield b;
        n += b.length;
        progress(`${e.name} ${size}: built ${n}`);
      }
    })();
    await e.build(dir, batches, buildInfo(size, size));
  }
  writeFileSync(join(dir, ".built"), new Date().toISOString());
}

/** `warm` first (not timed), then every query of `qs` once, timed. */
/**
 * Reads every file of an on-disk index once, so that it is in the OS's page cache as the files of
 * an index that has been answering are. This VM's kernel reclaims file pages left unused for a few
 * minutes (DAMON): the daemon's 1M store, measured after the 100k rounds, read its pages from disk
 * (p50 18.4 and 12.2 ms against 9.3–10.2 in runs of 1M alone; in a lab run after dropping the
 * cache, 24.2 ms against 8.7 warm). Every on-disk engine is warmed so, before its 20 warm-up queries.
 */
function warmPageCache(dir: string): void {
  const buffer = Buffer.allocUnsafe(8 << 20);
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const fd = openSync(join(entry.parentPath, entry.name), "r");
    try {
      while (readSync(fd, buffer) > 0);
    } finally {
      closeSync(fd);
    }
  }
}

async function timeQueries(
  index: PeerIndex,
  qs: PeerQuery[],
  warm: PeerQuery[],
): Promise<{ lat: number[]; ranked: string[][] }> {
  for (const q of warm) await index.search(q, K);
  const lat: number[] = [];
  const ranked: string[][] = [];
  for (const q of qs) {
    const t = performance.now();
    ranked.push(await index.search(q, K));
    lat.push(performance.now() - t);
  }
  return { lat, ranked };
}

/** Each part of the engine's own profile, per query, over (up to) `limit` queries. */
async function collectProfile(index: PeerIndex, qs: PeerQuery[], into: Map<string, number[]>, limit: number) {
  if (!index.profile) return;
  for (const q of qs.slice(0, limit))
    for (const [part, ms] of Object.entries(await index.profile(q)))
      into.set(part, [...(into.get(part) ?? []), ms]);
}

const p50s = (parts: Map<string, number[]>) =>
  parts.size ? Object.fromEntries([...parts].map(([part, ms]) => [part, summarize(ms).p50])) : undefined;

const gc = () => (globalThis as { gc?: () => void }).gc?.();

async function childRun(e: PeerEngine, size: Size): Promise<RunResult> {
  const dir = indexDir(e, size);
  if (size === "locomo") {
    const fx = await locomoFixture(datasetPath, cacheDir, false);
    const lat: number[] = [];
    const rankedByQuestion = new Map<number, string[]>();
    let rss = 0;
    let rssOf = "this process";
    const parts = new Map<string, number[]>();
    for (const [conv, docs] of fx.conversations) {
      const info = buildInfo(size, docs.length);
      if (!e.onDisk) await e.build("", [docs], info);
      const index = await e.open(join(dir, conv), info);
      const asQuery = (q: { question: string }): PeerQuery => ({
        text: q.question,
        vector: fx.questionVectors.get(q.question) as Float32Array,
      });
      const mine = fx.questions.map((q, i) => ({ q, i })).filter((x) => x.q.conversation === conv);
      const qs = mine.map(({ q }) => asQuery(q));
      progress(`${e.name} LoCoMo: ${conv} (${docs.length} turns, ${qs.length} questions)`);
      // Warmed as an index that has been answering: with other conversations' questions, so the
      // timed ones are each asked once, first. A just-opened index pays its first queries'
      // costs (the daemon: a new read worker's compile, the pages it has not read yet).
      const others = fx.questions.filter((q) => q.conversation !== conv);
      const warm = Array.from({ length: LOCOMO_WARMUP }, (_, j) => asQuery(others[(j * 37) % others.length]));
      const r = await timeQueries(index, qs, warm);
      lat.push(...r.lat);
      await collectProfile(index, qs, parts, 10);
      for (const [j, { i }] of mine.entries())
        rankedByQuestion.set(
          i,
          r.ranked[j].map((id) => fx.diaOf.get(id) ?? id),
        );
      gc();
      rss = Math.max(rss, rssMiB(index.pid ?? process.pid));
      if (index.pid) rssOf = "its server process";
      await index.close();
    }
    const scores = scoreRankings(
      fx.questions,
      fx.questions.map((_, i) => rankedByQuestion.get(i) ?? []),
    );
    return {
      latency_ms: summarize(lat),
      rss_mib: rss,
      rss_of: `${rssOf} (largest of the 10 conversations)`,
      recall_at_5: scores.overall["recall@5"],
      by_category: Object.fromEntries(Object.values(CATEGORY_NAMES).map((c) => [c, scores[c]["recall@5"]])),
      profile_p50_ms: p50s(parts),
      queries: lat.length,
    };
  }
  const info = buildInfo(size, size);
  if (!e.onDisk) {
    let n = 0;
    for (const b of syntheticBatches(size, cacheDir)) {
      await e.build("", [b], info);
      n += b.length;
      progress(`${e.name} ${size}: indexed ${n} in memory`);
    }
  }
  const qs = syntheticQueries(size, cacheDir, queryCount);
  gc();
  if (e.onDisk) warmPageCache(dir);
  const index = await e.open(dir, info);
  progress(`${e.name} ${size}: ${qs.length} queries`);
  const r = await timeQueries(index, qs, qs.slice(0, 20));
  const parts = new Map<string, number[]>();
  await collectProfile(index, qs, parts, 30);
  let ann: number | undefined;
  if (index.vectorOnly) {
    let hit = 0;
    let total = 0;
    for (const q of qs) {
      if (!q.exact) continue;
      const exact = new Set(q.exact);
      hit += (await index.vectorOnly(q.vector, 10)).filter((id) => exact.has(id)).length;
      total += 10;
    }
    ann = total ? Math.round((hit / total) * 1000) / 1000 : undefined;
  }
  gc();
  const rss = rssMiB(index.pid ?? process.pid);
  await index.close();
  return {
    latency_ms: summarize(r.lat),
    rss_mib: rss,
    rss_of: index.pid ? "its server process" : "this process",
    ...(ann !== undefined ? { ann_recall_at_10: ann } : {}),
    profile_p50_ms: p50s(parts),
    queries: r.lat.length,
  };
}

// ------------------------------------------------------------------ parent: one child per engine × size

function runChild(childArgs: string[]): Promise<void> {
  const self = fileURLToPath(import.meta.url);
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ["--expose-gc", self, ...childArgs], {
      stdio: "inherit",
      // LanceDB's native library warns on every query that asks for `id` alone (a deprecation).
      env: { ...process.env, LANCEDB_LOG: process.env.LANCEDB_LOG ?? "error" },
    });
    child.once("exit", (code, signal) =>
      code === 0 ? resolvePromise() : reject(new Error(`exited ${code ?? signal}`)),
    );
  });
}

async function measure(e: PeerEngine, size: Size, rss100k: Map<string, number>): Promise<Row> {
  const row: Row = { engine: e.name, label: e.label, size };
  const skip = e.skip?.(size) ?? null;
  if (skip) {
    const known = rss100k.get(e.name);
    const extrapolated =
      known && size !== "locomo"
        ? `; ${((known * (size / 100_000)) / 1024).toFixed(1)} GB by its 100k RSS`
        : "";
    return { ...row, skipped: `${skip}${extrapolated}` };
  }
  const dir = indexDir(e, size);
  const sizeArg = String(size);
  try {
    if (e.onDisk && (args.includes("--rebuild") || !existsSync(join(dir, ".built")))) {
      const t = performance.now();
      await runChild(["--child", "build", "--engine", e.name, "--size", sizeArg]);
      row.build_s = Math.round((performance.now() - t) / 100) / 10;
    }
    const out = join(cacheDir, `peers-result-${e.name}-${size}.json`);
    rmSync(out, { force: true });
    await runChild([
      "--child",
      "run",
      "--engine",
      e.name,
      "--size",
      sizeArg,
      "--out",
      out,
      "--queries",
      String(queryCount),
    ]);
    row.result = JSON.parse(readFileSync(out, "utf8")) as RunResult;
    if (size === 100_000) rss100k.set(e.name, row.result.rss_mib);
  } catch (err) {
    row.error = (err as Error).message;
  }
  progress("");
  return row;
}

/** The round with the median p50, with every round's p50; a failed or skipped row as it came. */
function medianRound(rounds: Row[]): Row {
  const done = rounds.filter((r) => r.result).sort((a, b) => p50Of(a) - p50Of(b));
  if (done.length < 2) return done[0] ?? rounds[0];
  const median = done[Math.floor((done.length - 1) / 2)];
  return {
    ...median,
    build_s: rounds.find((r) => r.build_s !== undefined)?.build_s,
    result: {
      ...(median.result as RunResult),
      round_p50s: rounds.flatMap((r) => (r.result ? [p50Of(r)] : [])),
    },
  };
}

const p50Of = (r: Row) => r.result?.latency_ms.p50 ?? Number.POSITIVE_INFINITY;

function printTable(rows: Row[]): void {
  const f = (x: number | undefined, d = 1) => (x === undefined ? "–" : x.toFixed(d));
  log(
    `\n${"engine".padEnd(18)} ${"size".padStart(8)} ${"r@5".padStart(6)} ${"p50 ms".padStart(8)} ${"p95 ms".padStart(8)} ${"RSS MiB".padStart(8)} ${"ANN r@10".padStart(8)}  how`,
  );
  for (const r of rows) {
    const head = `${r.engine.padEnd(18)} ${String(r.size).padStart(8)}`;
    if (!r.result) {
      log(`${head}  ${r.skipped ? `skipped: ${r.skipped}` : `failed: ${r.error}`}`);
      continue;
    }
    const x = r.result;
    log(
      `${head} ${f(x.recall_at_5, 3).padStart(6)} ${f(x.latency_ms.p50, 2).padStart(8)} ${f(x.latency_ms.p95, 2).padStart(8)} ${String(x.rss_mib).padStart(8)} ${f(x.ann_recall_at_10, 3).padStart(8)}  ${r.label}`,
    );
  }
}

/** The rounds behind a median verdict, each engine's p50 in the order they ran. */
function roundsNote(daemon: RunResult, fastest: Row): string {
  const peer = fastest.result?.round_p50s;
  if (!daemon.round_p50s || !peer) return "";
  return ` — medians of ${daemon.round_p50s.length} rounds, the engines taking turns: daemon ${daemon.round_p50s.join(" / ")} ms, ${fastest.engine} ${peer.join(" / ")} ms`;
}

/** A peer that is fast because its vector index is approximate says how approximate, beside the daemon's. */
function annNote(peer: RunResult, daemon: RunResult): string {
  if (peer.ann_recall_at_10 === undefined || peer.ann_recall_at_10 >= 0.99) return "";
  return ` — its vector index finds ${peer.ann_recall_at_10} of the exact top 10, the daemon's ${daemon.ann_recall_at_10 ?? "?"}`;
}

/** Does the daemon (in-process, embedding excluded) lead on quality, and is it within 1.5× of the fastest hybrid peer? */
function verdicts(rows: Row[], sizes: Size[]): string[] {
  const lines: string[] = [];
  for (const size of sizes) {
    const at = rows.filter((r) => r.size === size && r.result);
    const daemon = at.find((r) => r.engine === "daemon")?.result;
    const peers = at.filter((r) => !r.engine.startsWith("daemon"));
    if (!daemon || !peers.length) {
      lines.push(`${size}: no verdict (the daemon or every peer did not run)`);
      continue;
    }
    const parts: string[] = [];
    if (daemon.recall_at_5 !== undefined) {
      const best = peers
        .filter((p) => p.result?.recall_at_5 !== undefined)
        .sort((a, b) => (b.result?.recall_at_5 ?? 0) - (a.result?.recall_at_5 ?? 0))[0];
      if (best?.result?.recall_at_5 !== undefined) {
        const d = daemon.recall_at_5 - best.result.recall_at_5;
        parts.push(
          d > 0
            ? `leads on quality (r@5 ${daemon.recall_at_5.toFixed(3)} vs ${best.engine} ${best.result.recall_at_5.toFixed(3)}, +${d.toFixed(3)})`
            : `does NOT lead on quality (r@5 ${daemon.recall_at_5.toFixed(3)} vs ${best.engine} ${best.result.recall_at_5.toFixed(3)}, ${d.toFixed(3)})`,
        );
      }
    }
    // The keyword-only reference server finds little; its speed is no competitor's.
    const fastest = peers
      .filter((p) => ENGINES.find((e) => e.name === p.engine)?.vectors)
      .sort((a, b) => (a.result?.latency_ms.p50 ?? 0) - (b.result?.latency_ms.p50 ?? 0))[0];
    if (fastest?.result) {
      const ratio = daemon.latency_ms.p50 / fastest.result.latency_ms.p50;
      parts.push(
        `${ratio <= 1.5 ? "is" : "is NOT"} within 1.5× of the fastest hybrid peer's p50 (${daemon.latency_ms.p50} ms vs ${fastest.engine} ${fastest.result.latency_ms.p50} ms: ${ratio.toFixed(2)}×${ratio > 1.5 ? `, ${(ratio / 1.5).toFixed(2)}× past the bound` : ""})${annNote(fastest.result, daemon)}${roundsNote(daemon, fastest)}`,
      );
    }
    lines.push(`${size}: the daemon ${parts.join("; ")}`);
    if (daemon.profile_p50_ms)
      lines.push(
        `  where the daemon's time goes (p50 ms, each timed alone): ${Object.entries(daemon.profile_p50_ms)
          .map(([part, ms]) => `${part} ${ms}`)
          .join(", ")}`,
      );
  }
  return lines;
}

async function main(): Promise<void> {
  const child = arg("child");
  if (child) {
    const e = ENGINES.find((x) => x.name === arg("engine"));
    const size = parseSize(arg("size") ?? "");
    if (!e) throw new Error(`unknown engine ${arg("engine")}`);
    if (child === "build") return childBuild(e, size);
    const result = await childRun(e, size);
    writeFileSync(arg("out") as string, JSON.stringify(result));
    return;
  }
  const sizes = (arg("sizes") ?? "locomo,100000").split(",").map(parseSize);
  const wanted = arg("engines")?.split(",");
  const unknown = wanted?.filter((w) => !ENGINES.some((e) => e.name === w));
  if (unknown?.length)
    throw new Error(`unknown engine(s) ${unknown.join(", ")}: use ${ENGINES.map((e) => e.name).join(", ")}`);
  const engines = wanted ? ENGINES.filter((e) => wanted.includes(e.name)) : ENGINES;
  mkdirSync(cacheDir, { recursive: true });
  const load = loadavg().map((x) => x.toFixed(2));
  const rows: Row[] = [];
  const rss100k = new Map<string, number>();
  for (const size of sizes) {
    if (size === "locomo") await locomoFixture(datasetPath, cacheDir, true, progress);
    else ensureSynthetic(size, queryCount, cacheDir, progress);
    progress("");
    const rounds = roundsAt(size);
    const runs = new Map<string, Row[]>();
    for (let round = 1; round <= rounds; round++) {
      for (const e of engines) {
        log(`${e.name} at ${size}${rounds > 1 ? ` (round ${round} of ${rounds})` : ""}…`);
        runs.set(e.name, [...(runs.get(e.name) ?? []), await measure(e, size, rss100k)]);
      }
    }
    for (const e of engines) rows.push(medianRound(runs.get(e.name) ?? []));
  }
  printTable(rows);
  const verdict = verdicts(rows, sizes);
  log("");
  for (const v of verdict) log(v);
  log(
    `load average at start: ${load.join(" ")}, at end: ${loadavg()
      .map((x) => x.toFixed(2))
      .join(" ")}`,
  );
  writeReport("peers", {
    k: K,
    queries_synthetic: queryCount,
    load_average: { start: load, end: loadavg().map((x) => x.toFixed(2)) },
    rows,
    verdict,
  });
}

await main();
