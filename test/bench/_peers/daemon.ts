/**
 * This daemon, three ways, over one store built once:
 *  - `daemon`: `SqliteMemoryStore` + `MemoryService` in this process, the query vector served
 *    from the precomputed table (as `pnpm bench daemon` and the LoCoMo ablations do);
 *  - `daemon-http`: a real `tribalmemoryd` process answering `POST /v1/recall`, its embedding
 *    provider `openai` pointed at a loopback server in this process that speaks the OpenAI
 *    embeddings protocol and serves the same precomputed vectors (the query's embedding then
 *    costs one loopback round trip, not a model). That provider carries the `openai`
 *    calibration, not USE-lite's, so its quality may differ slightly from the in-process row;
 *  - `daemon-http-embed`: the same process with its own USE-lite model (`provider: offline`),
 *    the query embedding included: what an agent sees end to end (LoCoMo only, where the stored
 *    vectors are USE-lite's).
 * The store is built through `MemoryService.insertExact` in transactions of 1,000, vectors given:
 * the fastest correct path the daemon offers (an Automerge document per memory included).
 */
import { type ChildProcess, spawn } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { SqliteMemoryStore } from "@tribalmemory/daemon/store/sqlite-store";
import { readLocalToken } from "@tribalmemory/shared/config/local-token";
import type { EmbeddingProvider } from "@tribalmemory/shared/embed/provider";
import { CALIBRATIONS } from "@tribalmemory/shared/embed/select-embedder";
import { USE_LITE_MODEL_ID } from "@tribalmemory/shared/embed/use-lite";
import { newActorId } from "@tribalmemory/shared/memory/document";
import { DEFAULT_MIN_RELEVANCE } from "@tribalmemory/shared/memory/schemas";
import type { Memory } from "@tribalmemory/shared/memory/types";
import { keywordTerms } from "@tribalmemory/shared/recall/keyword-query";
import {
  CANDIDATES,
  DEFAULT_RECALL_STEPS,
  KEYWORD_CANDIDATES,
  type RecallSteps,
} from "@tribalmemory/shared/recall/pipeline";
import { MemoryService } from "@tribalmemory/shared/service/memory-service";
import { request } from "undici";
import { bulkWrite } from "../_bulk-store.ts";
import type { BuildInfo, PeerDoc, PeerEngine, PeerIndex } from "./engine.ts";

const DB = "memories.db";

/** Serves vectors from a table the benchmark fills: recall is measured without a model. */
function lookupProvider(info: BuildInfo, table: Map<string, Float32Array>): EmbeddingProvider {
  return {
    modelId: info.modelId,
    dims: info.dims,
    async embed(texts) {
      return texts.map((t) => table.get(t) ?? new Float32Array(info.dims));
    },
    async close() {},
  };
}

/** The calibration the daemon would load with this model (select-embedder.ts). */
function calibrationFor(info: BuildInfo) {
  return info.modelId === USE_LITE_MODEL_ID ? CALIBRATIONS.use : CALIBRATIONS.bge;
}

/** What recall asks in every row: the HTTP defaults (`pnpm bench locomo` uses them too). */
const recallBody = (query: string, k: number) => ({
  query,
  limit: k,
  min_relevance: DEFAULT_MIN_RELEVANCE,
  include_superseded: false,
  sources: "memories" as const,
});

/** The memory a remember of `d` writes (an import, untagged, at its own time). */
function memoryOf(d: PeerDoc): Memory {
  return {
    id: d.id,
    content: d.text,
    source_type: "import",
    source_instance: d.source,
    tags: [],
    context: null,
    confidence: 1,
    supersedes: null,
    duplicate_of: null,
    created_at: d.createdAt,
    updated_at: d.createdAt,
    deleted: false,
  };
}

/**
 * From this many memories the store is written row by row in SQL (`bulkWrite`, the scale bench's
 * builder: the same rows, without each memory's Automerge document, which recall never reads;
 * daemon-bulk.test.ts). Through `insertExact` a 100k store takes ~45 min here, so 1M would take
 * most of a day; `bulkWrite` writes 100k in ~15 s.
 */
const BULK_BUILD_FROM = 100_000;

export async function buildDaemonStore(
  dir: string,
  batches: Iterable<PeerDoc[]>,
  info: BuildInfo,
  bulkFrom = BULK_BUILD_FROM,
): Promise<void> {
  mkdirSync(dir, { recursive: true });
  if (info.count >= bulkFrom) {
    // Only the synthetic corpora are this large; their memory i's thread neighbours are i ± 7.
    const rows = (function* () {
      for (const docs of batches) for (const d of docs) yield { memory: memoryOf(d), vector: d.vector };
    })();
    // The bench prints progress as it reads the batches.
    await bulkWrite({ path: join(dir, DB), rows, ...info, log: () => {} });
    return;
  }
  const store = new SqliteMemoryStore({ path: join(dir, DB) });
  const svc = new MemoryService({ store, actor: newActorId(), instanceId: "bench" });
  await svc.setEmbedder({ provider: lookupProvider(info, new Map()), ...calibrationFor(info) });
  for (const docs of batches) {
    for (let i = 0; i < docs.length; i += 1000) {
      await svc.insertExact(docs.slice(i, i + 1000).map((d) => ({ memory: memoryOf(d), vector: d.vector })));
    }
  }
  await store.close();
}

export const daemonInProcess: PeerEngine = {
  name: "daemon",
  label: "this daemon, in-process (hybrid, full pipeline)",
  vectors: true,
  onDisk: true,
  build: buildDaemonStore,
  async open(dir, info) {
    const store = new SqliteMemoryStore({ path: join(dir, DB) });
    // A store's first open counts its common terms on a worker (term-stats.ts; 4 s at 1M), as a
    // daemon does once after an import: recall is measured after, as other engines' after their
    // index builds.
    await store.termStats.ready();
    const table = new Map<string, Float32Array>();
    const svc = new MemoryService({ store, actor: newActorId(), instanceId: "bench" });
    await svc.setEmbedder({ provider: lookupProvider(info, table), ...calibrationFor(info) });
    return {
      async search(q, k) {
        table.set(q.text, q.vector);
        const r = await svc.recall(recallBody(q.text, k));
        table.delete(q.text);
        return r.results.map((h) => h.memory.id);
      },
      async vectorOnly(vector, k) {
        return (await store.vectorSearch(vector, k, {})).map((h) => h.id);
      },
      async profile(q) {
        // Its two candidate searches alone (as the pipeline asks them); the rest of recall's time
        // is fusion, time, thread and entity steps, reading the rows and scoring.
        const t0 = performance.now();
        await store.vectorSearch(q.vector, CANDIDATES, {});
        const t1 = performance.now();
        await store.keywordSearch(keywordTerms(q.text), KEYWORD_CANDIDATES, {});
        const t2 = performance.now();
        table.set(q.text, q.vector);
        await svc.recall(recallBody(q.text, 10));
        const t3 = performance.now();
        const out: Record<string, number> = {
          vector_search: t1 - t0,
          keyword_search: t2 - t1,
          recall: t3 - t2,
        };
        // Recall again with each step that is on by default switched off: what that step costs.
        for (const step of Object.keys(DEFAULT_RECALL_STEPS) as (keyof RecallSteps)[]) {
          if (!DEFAULT_RECALL_STEPS[step] || step === "keyword" || step === "vector") continue;
          const t = performance.now();
          await svc.recall(recallBody(q.text, 10), { ...DEFAULT_RECALL_STEPS, [step]: false });
          out[`recall_without_${step}`] = performance.now() - t;
        }
        table.delete(q.text);
        return out;
      },
      close: () => store.close(),
    };
  },
};

/** An OpenAI-compatible `POST /v1/embeddings` on loopback that answers from the table. */
async function embeddingsServer(info: BuildInfo, table: Map<string, Float32Array>): Promise<Server> {
  // Texts it was never given (the provider's start-up probe) get one fixed unit vector.
  const fallback = Array.from({ length: info.dims }, (_, i) => (i === 0 ? 1 : 0));
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      const input = (JSON.parse(body) as { input: string | string[] }).input;
      const texts = Array.isArray(input) ? input : [input];
      const data = texts.map((t, index) => {
        const v = table.get(t);
        return { object: "embedding", index, embedding: v ? Array.from(v) : fallback };
      });
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ object: "list", data, model: info.modelId, usage: { prompt_tokens: 0 } }));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return server;
}

interface DaemonProcess {
  url: string;
  token: string;
  child: ChildProcess;
  home: string;
}

async function startDaemon(dir: string, embeddingYaml: string): Promise<DaemonProcess> {
  const home = mkdtempSync(join(tmpdir(), "tm-peers-"));
  const dataDir = join(home, "data");
  mkdirSync(dataDir);
  copyFileSync(join(dir, DB), join(dataDir, DB));
  writeFileSync(
    join(home, "config.yaml"),
    `data_dir: ${dataDir}\nserver:\n  port: 0\nembedding:\n${embeddingYaml}sessions:\n  watch: false\n`,
  );
  const bin = fileURLToPath(new URL("../../../cli/src/tribalmemoryd.ts", import.meta.url));
  const child = spawn(process.execPath, [bin], {
    env: { ...process.env, TRIBAL_MEMORY_HOME: home },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (d) => (stderr += d));
  const infoFile = join(dataDir, "daemon.json");
  const deadline = Date.now() + 120_000;
  const fail = (why: string) => {
    child.kill("SIGTERM");
    return new Error(`tribalmemoryd ${why}: ${stderr.slice(-2000)}`);
  };
  while (!existsSync(infoFile)) {
    if (child.exitCode !== null) throw fail(`exited ${child.exitCode}`);
    if (Date.now() > deadline) throw fail("did not start in 120 s");
    await new Promise((r) => setTimeout(r, 100));
  }
  const { url } = JSON.parse(readFileSync(infoFile, "utf8")) as { url: string };
  for (;;) {
    const h = (await (await request(`${url}/v1/health`)).body.json()) as {
      embedding: { status: string; error: string | null };
    };
    if (h.embedding.status === "ready") break;
    if (h.embedding.status === "failed") throw fail(`model failed: ${h.embedding.error}`);
    if (Date.now() > deadline) throw fail("model not ready in 120 s");
    await new Promise((r) => setTimeout(r, 200));
  }
  return { url, token: readLocalToken(home) ?? "", child, home };
}

async function stopDaemon(d: DaemonProcess): Promise<void> {
  if (d.child.exitCode === null) {
    const exited = new Promise((r) => d.child.once("exit", r));
    d.child.kill("SIGTERM");
    await exited;
  }
  rmSync(d.home, { recursive: true, force: true });
}

function httpIndex(d: DaemonProcess, before: (q: { text: string; vector: Float32Array }) => void): PeerIndex {
  return {
    pid: d.child.pid,
    async search(q, k) {
      before(q);
      const res = await request(`${d.url}/v1/recall`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-tribal-token": d.token },
        body: JSON.stringify({ query: q.text, limit: k }),
      });
      const body = (await res.body.json()) as { results: { memory: { id: string } }[] };
      if (res.statusCode !== 200) throw new Error(`recall: HTTP ${res.statusCode} ${JSON.stringify(body)}`);
      return body.results.map((h) => h.memory.id);
    },
    close: () => stopDaemon(d),
  };
}

export const daemonHttp: PeerEngine = {
  name: "daemon-http",
  label: "this daemon over HTTP (tribalmemoryd; query vector from the table via loopback)",
  vectors: true,
  onDisk: true,
  build: buildDaemonStore,
  async open(dir, info) {
    const table = new Map<string, Float32Array>();
    const server = await embeddingsServer(info, table);
    const port = (server.address() as AddressInfo).port;
    const d = await startDaemon(
      dir,
      `  provider: openai\n  base_url: http://127.0.0.1:${port}/v1\n  model: ${info.modelId}\n`,
    ).catch((err) => {
      server.close();
      throw err;
    });
    const index = httpIndex(d, (q) => table.set(q.text, q.vector));
    return {
      ...index,
      async close() {
        await index.close();
        await new Promise((r) => server.close(r));
      },
    };
  },
};

export const daemonHttpEmbed: PeerEngine = {
  name: "daemon-http-embed",
  label: "this daemon over HTTP, its own USE-lite query embedding included",
  vectors: true,
  onDisk: true,
  skip: (size) =>
    size === "locomo" ? null : "the synthetic vectors are no model's: its own embedding only at LoCoMo",
  build: buildDaemonStore,
  async open(dir) {
    return httpIndex(await startDaemon(dir, "  provider: offline\n"), () => {});
  },
};
