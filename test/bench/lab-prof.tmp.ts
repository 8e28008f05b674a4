// Lab: whole recall at 1M in-process, for a CPU profile.
import { join } from "node:path";
import { SqliteMemoryStore } from "@tribalmemory/daemon/store/sqlite-store";
import type { EmbeddingProvider } from "@tribalmemory/shared/embed/provider";
import { USE_LITE_MODEL_ID } from "@tribalmemory/shared/embed/use-lite";
import { newActorId } from "@tribalmemory/shared/memory/document";
import { MemoryService } from "@tribalmemory/shared/service/memory-service";
import { scaleCorpus, scaleQuery } from "./_bulk-store.ts";
import { rng } from "./_corpus.ts";

const count = 1_000_000,
  dims = 512;
const corpus = scaleCorpus(count, dims);
const random = rng(7);
const qs = Array.from({ length: 300 }, () => scaleQuery(corpus, Math.floor(random() * count), random));
const table = new Map(qs.map((q) => [q.text, q.vector]));
const provider: EmbeddingProvider = {
  modelId: USE_LITE_MODEL_ID,
  dims,
  async embed(t) {
    return t.map((x) => table.get(x) ?? new Float32Array(dims));
  },
  async close() {},
};
const store = new SqliteMemoryStore({
  path: join(process.cwd(), "bench-results/cache/scale-1000000-512/memories.db"),
});
await store.vectorIndexReady();
if (process.env.MMAP) store.db.pragma(`mmap_size = ${process.env.MMAP}`);
const svc = new MemoryService({ store, actor: newActorId(), instanceId: "bench" });
await svc.setEmbedder({ provider, calibration: { floor: 0.3, ceiling: 0.9, weight: 1 }, dedupCosine: null });
const body = (query: string) => ({
  query,
  limit: 10,
  min_relevance: 0,
  include_superseded: false,
  sources: "memories" as const,
});
for (const q of qs.slice(0, 20)) await svc.recall(body(q.text));
const lat: number[] = [];
for (let round = 0; round < Number(process.env.ROUNDS ?? 1); round++)
  for (const q of qs) {
    const s = performance.now();
    await svc.recall(body(q.text));
    lat.push(performance.now() - s);
  }
lat.sort((a, b) => a - b);
console.log(
  `p50 ${lat[Math.floor(lat.length / 2)].toFixed(1)} p95 ${lat[Math.floor(lat.length * 0.95)].toFixed(1)}`,
);
await store.close();
