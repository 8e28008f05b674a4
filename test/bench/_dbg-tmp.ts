import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CALIBRATIONS } from "@tribalmemory/daemon/embed/select-embedder";
import { SqliteMemoryStore } from "@tribalmemory/daemon/store/sqlite-store";
import { createProvider } from "@tribalmemory/shared/embed/glove-sif";
import { newActorId } from "@tribalmemory/shared/memory/document";
import { MemoryService } from "@tribalmemory/shared/service/memory-service";
import { loadDataset } from "../eval/dataset.ts";
const { memories, queries } = loadDataset();
const byId = new Map(memories.map((m) => [m.id, m]));
const dbPath = "/tmp/rq-debug.db";
const store = new SqliteMemoryStore({ path: dbPath });
let now = new Date();
const svc = new MemoryService({ store, actor: newActorId(), instanceId: "b", now: () => now });
await svc.setEmbedder({ provider: await createProvider({ cacheDir: join(process.cwd(), ".tmp/models/glove-sif-100d") }), ...CALIBRATIONS.glove });
if ((await store.stats()).total_memories === 0) {
  const items = memories.map((m) => ({ memory: { id: m.id, content: m.content, source_type: m.source_type, source_instance: m.source_instance, tags: m.tags, context: null, confidence: 1, supersedes: m.supersedes ?? null, duplicate_of: null, created_at: m.created_at, updated_at: m.created_at, deleted: false } }));
  for (let i = 0; i < items.length; i += 256) await svc.insertExact(items.slice(i, i + 256));
}
const cat = process.argv[2];
const steps = JSON.parse(process.argv[3] ?? "{}");
let shown = 0;
for (const q of queries.filter((q) => q.category === cat)) {
  now = new Date(q.reference_date);
  const out = await svc.recall({ query: q.query, limit: 5, min_relevance: 0, include_superseded: false, sources: "memories", explain: true }, steps);
  const ids = out.results.map((r) => r.memory.id);
  if (q.relevant_ids.every((id) => ids.slice(0, 1).includes(id))) continue;
  if (shown++ > 6) break;
  console.log("\n##", q.query, "| window", q.window?.expression, "| tf", out.timeFilter?.phrase);
  for (const id of q.relevant_ids) console.log("  WANT", ids.indexOf(id), byId.get(id)?.content.slice(0, 150));
  for (const r of out.results.slice(0, 3)) console.log("  got", r.score, JSON.stringify(r.signals), r.memory.content.slice(0, 120).replace(/\n/g, " "));
  const hop = out.explain?.find((e) => e.step === "hop");
  if (hop) console.log("  hop", JSON.stringify(hop.bridges));
}
