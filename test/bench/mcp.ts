/**
 * `pnpm bench mcp [--memories N] [--calls N] [--embedding hashing|offline|auto]`
 *
 *  - MCP `tribal_recall` round trip: SDK client → stdio → tribalmemory-mcp → HTTP → daemon,
 *    at 10,000 memories (target p50 ≤ 30 ms).
 *  - Watcher lag: a line appended to a Claude Code transcript until it is searchable
 *    (target p50 ≤ 2 s).
 *
 * Runs in a temporary HOME; the MCP server starts the daemon itself, as it does for agents.
 */
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { request } from "undici";
import { queryFor, rng, syntheticCorpus } from "./_corpus.ts";
import { summarize, writeReport } from "./_report.ts";

const { values: args } = parseArgs({
  options: {
    memories: { type: "string", default: "10000" },
    calls: { type: "string", default: "300" },
    lag: { type: "string", default: "30" },
    embedding: { type: "string", default: "hashing" },
  },
});
const N = Number(args.memories);
const CALLS = Number(args.calls);
const LAG_SAMPLES = Number(args.lag);
const log = (s: string) => process.stdout.write(`${s}\n`);

const home = mkdtempSync(join(tmpdir(), "tm-bench-mcp-"));
const tribalHome = join(home, ".tribal-memory");
mkdirSync(tribalHome, { recursive: true });
const env: Record<string, string> = {
  ...(process.env as Record<string, string>),
  HOME: home,
  TRIBAL_MEMORY_HOME: tribalHome,
  TRIBAL_MEMORY_PORT: "0",
  TRIBAL_MEMORY_EMBEDDING: args.embedding as string,
  TRIBAL_MEMORY_WATCH_SESSIONS: "1",
  TRIBAL_MEMORY_LOG_LEVEL: "warn",
};
for (const k of ["TRIBAL_MEMORY_URL", "TRIBAL_MEMORY_CLOUD_URL", "TRIBAL_MEMORY_API_KEY"]) delete env[k];

async function http<T>(base: string, method: "GET" | "POST", path: string, body?: unknown): Promise<T> {
  const res = await request(`${base}${path}`, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.body.text();
  if (res.statusCode >= 400) throw new Error(`${method} ${path}: ${res.statusCode} ${text.slice(0, 300)}`);
  return JSON.parse(text) as T;
}

const client = new Client({ name: "bench", version: "1.0.0" });
const mcpBin = fileURLToPath(new URL("../../cli/bin/tribalmemory-mcp.js", import.meta.url));
await client.connect(
  new StdioClientTransport({ command: process.execPath, args: [mcpBin], env, stderr: "ignore" }),
);
const dataDir = join(tribalHome, "data");
let daemonPid = 0;
try {
  const t0 = performance.now();
  await client.callTool({ name: "tribal_stats", arguments: {} });
  log(
    `daemon started by the MCP server in ${Math.round(performance.now() - t0)} ms (embedding: ${args.embedding})`,
  );
  const info = JSON.parse(readFileSync(join(dataDir, "daemon.json"), "utf8")) as { url: string; pid: number };
  daemonPid = info.pid;

  // ---------------------------------------------------------------- load N memories
  const corpus = syntheticCorpus(N);
  const loadStart = performance.now();
  for (let i = 0; i < N; i += 1000) {
    const memories = corpus.texts.slice(i, i + 1000).map((content) => ({ content, skip_dedup: true }));
    await http(info.url, "POST", "/v1/remember/batch", { memories });
  }
  for (;;) {
    const s = await http<{ total_memories: number; missing_embeddings: number }>(
      info.url,
      "GET",
      "/v1/stats",
    );
    if (s.missing_embeddings === 0 && s.total_memories >= N) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  log(`loaded ${N} memories in ${Math.round(performance.now() - loadStart)} ms`);

  // ---------------------------------------------------------------- tribal_recall round trip
  const random = rng(7);
  const queries = Array.from(
    { length: CALLS + 20 },
    () => queryFor(corpus, Math.floor(random() * N), random).text,
  );
  for (const q of queries.slice(0, 20))
    await client.callTool({ name: "tribal_recall", arguments: { query: q, limit: 5 } });
  const rtt: number[] = [];
  let hits = 0;
  for (const q of queries.slice(20)) {
    const start = performance.now();
    const r = (await client.callTool({ name: "tribal_recall", arguments: { query: q, limit: 5 } })) as {
      isError?: boolean;
      structuredContent?: { count: number };
    };
    rtt.push(performance.now() - start);
    if (r.isError) throw new Error(`tribal_recall failed: ${JSON.stringify(r)}`);
    if ((r.structuredContent?.count ?? 0) > 0) hits++;
  }
  const recall = summarize(rtt);
  log(
    `MCP tribal_recall round trip at ${N} memories: p50 ${recall.p50} ms, p95 ${recall.p95} ms (${hits}/${CALLS} with results)`,
  );

  // ---------------------------------------------------------------- watcher lag
  const project = join(home, ".claude", "projects", "-bench");
  mkdirSync(project, { recursive: true });
  const file = join(project, "bench-session.jsonl");
  writeFileSync(file, "");
  await new Promise((r) => setTimeout(r, 500));
  const lags: number[] = [];
  for (let i = 0; i < LAG_SAMPLES; i++) {
    const token = `lagprobe${i}q${Math.floor(random() * 1e9)}`;
    const line = {
      type: "user",
      uuid: `u-${i}`,
      timestamp: new Date().toISOString(),
      message: { role: "user", content: `probe ${token} about the deploy` },
    };
    const start = performance.now();
    appendFileSync(file, `${JSON.stringify(line)}\n`);
    for (;;) {
      const r = await http<{ count: number }>(info.url, "GET", `/v1/sessions/search?query=${token}&limit=1`);
      if (r.count > 0) break;
      if (performance.now() - start > 10_000) throw new Error(`line ${i} not searchable after 10 s`);
      await new Promise((r2) => setTimeout(r2, 5));
    }
    lags.push(performance.now() - start);
    await new Promise((r) => setTimeout(r, 50));
  }
  const lag = summarize(lags);
  log(`watcher lag (append → searchable): p50 ${lag.p50} ms, p95 ${lag.p95} ms`);

  writeReport(args.embedding === "hashing" ? "mcp" : `mcp-${args.embedding}`, {
    embedding: args.embedding,
    memories: N,
    cpus: (await import("node:os")).cpus().length,
    tribal_recall_round_trip_ms: recall,
    tribal_recall_with_results: hits,
    watcher_lag_ms: lag,
    targets: { tribal_recall_p50_ms: 30, watcher_lag_p50_ms: 2000 },
  });
} finally {
  await client.close();
  if (daemonPid) {
    try {
      process.kill(daemonPid, "SIGTERM");
    } catch {
      // already gone
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  rmSync(home, { recursive: true, force: true });
}
