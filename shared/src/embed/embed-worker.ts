/**
 * Worker-thread entry of `worker-host.ts`: loads a provider module, builds the provider from
 * the JSON options in `workerData`, warms it up, and answers embed requests one at a time
 * (keeping the model warm while idle; see worker-host.ts for why).
 */
import { parentPort, workerData } from "node:worker_threads";
import { TribalError } from "../errors.ts";
import type { EmbeddingProvider, EmbeddingProviderFactory, EmbedKind } from "./provider.ts";
import { type EmbedWorkerData, type HostToWorker, serializeError, type WorkerToHost } from "./worker-host.ts";

if (!parentPort) throw new Error("embed-worker.ts runs only as a worker thread (see worker-host.ts)");
const port = parentPort;
const data = workerData as EmbedWorkerData;
const send = (msg: WorkerToHost, transfer: ArrayBuffer[] = []) => port.postMessage(msg, transfer);

async function load(): Promise<EmbeddingProvider> {
  const mod = (await import(data.moduleUrl)) as Partial<EmbeddingProviderFactory>;
  if (typeof mod.createProvider !== "function") {
    throw new TribalError("MODEL_UNAVAILABLE", `${data.moduleUrl} does not export createProvider(options).`);
  }
  return mod.createProvider(data.options);
}

const provider = await load().catch((err: unknown) => {
  send({ type: "load-error", error: serializeError(err) });
  port.close(); // nothing else keeps the thread alive: it ends
  return null;
});

/** Texts of the lengths agents send: a short question, a sentence, a paragraph. */
const WARM_TEXTS = [
  "which database does billing use?",
  "Alice prefers squash merges for the ledger-api repository.",
  "We moved billing-service from MySQL to Postgres after the March outage; the migration took two weeks and the platform team wrote the runbook.",
  "who is on call this week",
];
/** Model runs so far, warm-up included: the first one is the slow one. */
let runs = 0;
let lastRunAt = 0;
let keepWarm: NodeJS.Timeout | null = null;

async function run(provider: EmbeddingProvider, texts: string[], kind: EmbedKind): Promise<Float32Array[]> {
  runs++;
  try {
    return await provider.embed(texts, kind);
  } finally {
    lastRunAt = performance.now();
  }
}

if (provider) {
  const started = performance.now();
  for (let i = 0; i < data.warmupRuns; i++) {
    await run(provider, [WARM_TEXTS[i % WARM_TEXTS.length]], i % 2 ? "passage" : "query").catch(() => []);
  }
  send({
    type: "ready",
    modelId: provider.modelId,
    dims: provider.dims,
    warmupRuns: runs,
    warmupMs: Math.round(performance.now() - started),
  });
  // Requests are handled strictly one after another: the host sends one at a time anyway.
  let queue: Promise<void> = Promise.resolve();
  port.on("message", (msg: HostToWorker) => {
    queue = queue.then(() => handle(provider, msg));
  });
  if (data.keepWarmMs > 0) {
    keepWarm = setInterval(() => {
      if (performance.now() - lastRunAt < data.keepWarmMs) return;
      // Through the queue: a request that arrives meanwhile waits one short run at most.
      queue = queue.then(async () => {
        await run(provider, [WARM_TEXTS[0]], "query").catch(() => []);
        send({ type: "kept-warm" });
      });
    }, data.keepWarmMs);
    keepWarm.unref();
  }
}

async function handle(provider: EmbeddingProvider, msg: HostToWorker): Promise<void> {
  if (msg.type === "close") {
    if (keepWarm) clearInterval(keepWarm);
    await provider.close().catch(() => undefined);
    send({ type: "closed" });
    port.close();
    return;
  }
  try {
    const cold = runs === 0;
    const vectors = await run(provider, msg.texts, msg.kind);
    const dims = vectors[0]?.length ?? provider.dims;
    const flat = new Float32Array(vectors.length * dims);
    for (let i = 0; i < vectors.length; i++) flat.set(vectors[i], i * dims);
    send({ type: "result", id: msg.id, vectors: flat, count: vectors.length, cold }, [flat.buffer]);
  } catch (err) {
    send({ type: "error", id: msg.id, error: serializeError(err) });
  }
}
