/**
 * The multi-tenant part of `pnpm bench cloud`: many workspaces on one Postgres, and recall in
 * one of them through the relay's HTTP API as the app role (row-level security on, no
 * BYPASSRLS), so the figure includes auth, the tenant scope and both searches.
 */

import { createHashingProvider } from "@tribalmemory/shared/embed/hashing";
import { contentHash } from "@tribalmemory/shared/memory/content";
import { createMemoryDoc, newActorId } from "@tribalmemory/shared/memory/document";
import { sampleMemory } from "@tribalmemory/shared/testing/sample-memory";
import { createApiKey, createWorkspace, PgMemoryStore, type RelayDatabase } from "@tribalmemory/sync-server";
import { appRole } from "@tribalmemory/sync-server/store/database";
import { api, startTestRelay } from "@tribalmemory/sync-server/testing";
import { summarize } from "./_report.ts";

const TOPICS = ["billing", "deploys", "postgres", "auth", "search", "metrics", "oncall", "release"];

/** 100 facts of one workspace: each workspace gets its own words, so results cannot leak unseen. */
function facts(ws: number, n: number): string[] {
  return Array.from(
    { length: n },
    (_, i) =>
      `workspace${ws} note ${i}: the ${TOPICS[i % TOPICS.length]} service ${i % 7 === 0 ? "moved to" : "uses"} cluster c${(ws * 31 + i) % 97} since week ${i % 52}`,
  );
}

export async function seedWorkspaces(
  db: RelayDatabase,
  workspaces: number,
  perWorkspace: number,
  progress: (done: number) => void,
): Promise<string[]> {
  const provider = createHashingProvider(384);
  const ids: string[] = [];
  for (let w = 0; w < workspaces; w++) {
    const { workspaceId } = await createWorkspace(db, { name: `bench-${w}` });
    ids.push(workspaceId);
    const store = new PgMemoryStore(db, workspaceId, { actor: newActorId() });
    const actor = newActorId();
    const texts = facts(w, perWorkspace);
    const vectors = await provider.embed(texts, "passage");
    await store.ingest(
      texts.map((content, i) => ({
        change: createMemoryDoc(
          sampleMemory({ content, source_instance: `agent-${i % 3}`, tags: [TOPICS[i % TOPICS.length]] }),
          actor,
        ).change,
        embedding: { modelId: provider.modelId, contentHash: contentHash(content), vector: vectors[i] },
      })),
      "bench",
    );
    if ((w + 1) % 50 === 0 || w + 1 === workspaces) progress(w + 1);
  }
  return ids;
}

/** Recall latency in one workspace of many, through HTTP, as the app role. */
export async function recallAtScale(
  db: RelayDatabase,
  options: { workspaces: number; perWorkspace: number; queries: number; log: (s: string) => void },
) {
  const role = await appRole(db);
  const t0 = performance.now();
  const ids = await seedWorkspaces(db, options.workspaces, options.perWorkspace, (done) =>
    options.log(
      `  seeded ${done}/${options.workspaces} workspaces (${Math.round((performance.now() - t0) / 1000)} s)`,
    ),
  );
  const seedS = (performance.now() - t0) / 1000;
  const target = ids[Math.floor(ids.length / 2)];
  const key = await createApiKey(db, target, { name: "bench", scopes: ["read"] });
  const relay = await startTestRelay(db);
  try {
    const latencies: number[] = [];
    let foreign = 0;
    let empty = 0;
    for (let i = 0; i < options.queries + 10; i++) {
      const query = `which cluster does the ${TOPICS[i % TOPICS.length]} service use week ${i % 52}`;
      const t = performance.now();
      const r = await api<{ results: { memory: { content: string } }[] }>(
        relay.url,
        "POST",
        "/v1/recall",
        { query, limit: 10 },
        key.key,
      );
      const ms = performance.now() - t;
      if (r.status !== 200) throw new Error(`recall answered ${r.status}: ${JSON.stringify(r.body)}`);
      if (i >= 10) latencies.push(ms); // the first ten warm the caches
      if (!r.body.results.length) empty++;
      const mine = `workspace${Math.floor(ids.length / 2)} `;
      foreign += r.body.results.filter((x) => !x.memory.content.startsWith(mine)).length;
    }
    return {
      workspaces: options.workspaces,
      memories_per_workspace: options.perWorkspace,
      total_memories: options.workspaces * options.perWorkspace,
      seed_s: Math.round(seedS),
      role: role.name,
      rls_enforced: !role.superuser && !role.bypassRls,
      recall_ms: summarize(latencies),
      empty_results: empty,
      results_from_other_workspaces: foreign,
    };
  } finally {
    await relay.close();
  }
}
