/**
 * Worker-thread entry of `worker-host.ts`: loads a provider module, builds the provider from
 * the JSON options in `workerData`, and answers embed requests one at a time.
 */
import { parentPort, workerData } from "node:worker_threads";
import { TribalError } from "../errors.ts";
import type { EmbeddingProvider, EmbeddingProviderFactory } from "./provider.ts";
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

if (provider) {
  send({ type: "ready", modelId: provider.modelId, dims: provider.dims });
  // Requests are handled strictly one after another: the host sends one at a time anyway.
  let queue: Promise<void> = Promise.resolve();
  port.on("message", (msg: HostToWorker) => {
    queue = queue.then(() => handle(provider, msg));
  });
}

async function handle(provider: EmbeddingProvider, msg: HostToWorker): Promise<void> {
  if (msg.type === "close") {
    await provider.close().catch(() => undefined);
    send({ type: "closed" });
    port.close();
    return;
  }
  try {
    const vectors = await provider.embed(msg.texts, msg.kind);
    const dims = vectors[0]?.length ?? provider.dims;
    const flat = new Float32Array(vectors.length * dims);
    for (let i = 0; i < vectors.length; i++) flat.set(vectors[i], i * dims);
    send({ type: "result", id: msg.id, vectors: flat, count: vectors.length }, [flat.buffer]);
  } catch (err) {
    send({ type: "error", id: msg.id, error: serializeError(err) });
  }
}
