/**
 * `pnpm bench relay-scale [--workspaces 1000] [--memories 1000] [--queried 10] [--queries 200]
 *   [--large 0] [--dims 512] [--maintenance-mem 1GB] [--skip-index]`
 *
 * Many workspaces on one PostgreSQL, and recall in them through the relay's HTTP API
 * (`POST /v1/recall` with a Bearer key, as the app role, row-level security on). Run it under
 * `bash scripts/with-postgres.sh` (big runs under `flock /tmp/heavy.lock`). Writes
 * bench-results/relay-scale.json.
 *
 * Loading. The `--queried` workspaces are written through the relay's own ingest (documents,
 * changes, entity index, vectors: what a push writes). Every other workspace is written in bulk
 * as the app role with the statement ingest uses (`upsertMemoryRows`) and the entity index's
 * own writer, 1,000 rows a statement: the same row, tsvector, vector columns and entity rows,
 * but its `doc` is a real Automerge document of a same-shaped template memory and it has no
 * change-log rows (building a million documents takes 20+ minutes here; recall reads neither).
 * `--large N` adds one workspace of N memories, loaded in bulk and queried, for the HNSW path.
 * Vectors: the feature-hashing embedder at `--dims` (the relay embeds queries with the same one,
 * so the query embedding costs ~0.1 ms and is reported beside USE-lite's own cost).
 *
 * The vector index of the width is dropped before loading and built afterwards the way the
 * relay builds it (`ensureVectorIndexes`, CREATE INDEX CONCURRENTLY), which gives its build
 * time and size. Figures: HTTP recall p50/p95/p99; the same request's vector, keyword and
 * term-frequency statements alone (EXPLAIN ANALYZE as the app role, with the index each uses);
 * the exact and HNSW vector paths side by side in one workspace of each size, with the HNSW
 * path's recall@k against the exact top-k.
 */
import { createHash } from "node:crypto";
import { cpus, loadavg } from "node:os";
import { createHashingProvider } from "@tribalmemory/shared/embed/hashing";
import { l2normalize } from "@tribalmemory/shared/embed/provider";
import { contentHash } from "@tribalmemory/shared/memory/content";
import { createMemoryDoc, newActorId } from "@tribalmemory/shared/memory/document";
import { keywordTerms } from "@tribalmemory/shared/recall/keyword-query";
import { sampleMemory } from "@tribalmemory/shared/testing/sample-memory";
import {
  createApiKey,
  createWorkspace,
  openDatabase,
  PgMemoryStore,
  type RelayDatabase,
} from "@tribalmemory/sync-server";
import { appRole } from "@tribalmemory/sync-server/store/database";
import {
  ensureVectorIndexes,
  vectorIndexName,
} from "@tribalmemory/sync-server/store/migrations/v11-vector-dims";
import { PgEntityIndex } from "@tribalmemory/sync-server/store/pg-entities";
import { upsertMemoryRows } from "@tribalmemory/sync-server/store/pg-memory-rows";
import {
  keywordSearchStatement,
  SMALL_WORKSPACE_MAX,
  TermFrequencies,
  type VectorPath,
  vectorSearchStatement,
} from "@tribalmemory/sync-server/store/pg-search";
import { api, startTestRelay } from "@tribalmemory/sync-server/testing";
import pg from "pg";
import { rng, vocabulary } from "./_corpus.ts";
import { summarize, writeReport } from "./_report.ts";

const args = process.argv.slice(2);
const flag = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? (args[i + 1] ?? fallback) : fallback;
};
const WORKSPACES = Number(flag("workspaces", "1000"));
const MEMORIES = Number(flag("memories", "1000"));
const QUERIED = Math.min(WORKSPACES, Number(flag("queried", "10")));
const QUERIES = Number(flag("queries", "200"));
const LARGE = Number(flag("large", "0"));
const DIMS = Number(flag("dims", "512"));
const MAINTENANCE_MEM = flag("maintenance-mem", "1GB");
/** Stop after the recall figures: the HNSW build of a million rows takes most of an hour here. */
const SKIP_INDEX = args.includes("--skip-index");
const log = (s: string) => process.stdout.write(`${s}\n`);

const appUrl = process.env.TEST_APP_DATABASE_URL;
const adminUrl = process.env.TEST_DATABASE_URL;
if (!appUrl || !adminUrl) {
  process.stderr.write(
    "relay-scale needs PostgreSQL: run it as `bash scripts/with-postgres.sh pnpm bench relay-scale`\n",
  );
  process.exit(1);
}

const provider = createHashingProvider(DIMS);
const random = rng(7);
const VOCAB = vocabulary(4000, random);
const TOPICS = ["billing", "deploys", "postgres", "auth", "search", "metrics", "oncall", "release"];
const word = (r: () => number) => VOCAB[Math.floor(r() ** 2 * VOCAB.length)];

/** Memory `i` of workspace `w`: a topic, a cluster and a few vocabulary words (Zipf-ish). */
function fact(w: number, i: number): string {
  const r = rng(w * 1_000_003 + i);
  const words = Array.from({ length: 8 }, () => word(r)).join(" ");
  return `ws${w} note ${i}: the ${TOPICS[i % TOPICS.length]} service ${i % 7 === 0 ? "moved to" : "uses"} cluster c${(w * 31 + i) % 97}; ${words}`;
}

/** A query about memory `i` of workspace `w`: some of its words, reworded. */
function queryAbout(w: number, i: number): string {
  const r = rng(w * 1_000_003 + i);
  const words = Array.from({ length: 8 }, () => word(r));
  return `which cluster does the ${TOPICS[i % TOPICS.length]} service use for ${words[0]} ${words[3]} ${words[5]}`;
}

/**
 * The hashing embedder's vectors with each term's MD5 computed once (the embedder hashes every
 * term of every text: 0.4 ms a memory here, 7 minutes for a million). Checked equal below.
 */
const termSlots = new Map<string, number>();
function hashingVector(text: string): Float32Array {
  const v = new Float32Array(DIMS);
  for (const term of keywordTerms(text, 512)) {
    let slot = termSlots.get(term);
    if (slot === undefined) {
      const h = createHash("md5").update(term).digest();
      slot = ((h.readUInt32LE(0) % DIMS) + 1) * (h[4] & 1 ? 1 : -1);
      termSlots.set(term, slot);
    }
    v[Math.abs(slot) - 1] += Math.sign(slot);
  }
  return l2normalize(v);
}

async function embed(texts: string[]): Promise<Float32Array[]> {
  return texts.map(hashingVector);
}

async function assertSameVectors(): Promise<void> {
  const texts = [fact(1, 2), fact(3, 4), queryAbout(5, 6)];
  const want = await provider.embed(texts, "passage");
  const got = await embed(texts);
  if (!want.every((w, i) => w.every((x, j) => Math.abs(x - got[i][j]) < 1e-6))) {
    throw new Error("the memoised hashing vectors differ from the embedder's");
  }
}

/** One workspace through the relay's own ingest, in batches. */
async function ingestWorkspace(db: RelayDatabase, ws: string, w: number, n: number): Promise<void> {
  const store = new PgMemoryStore(db, ws, { actor: newActorId() });
  const actor = newActorId();
  for (let start = 0; start < n; start += 500) {
    const texts = Array.from({ length: Math.min(500, n - start) }, (_, j) => fact(w, start + j));
    const vectors = await embed(texts);
    await store.ingest(
      texts.map((content, j) => ({
        change: createMemoryDoc(
          sampleMemory({
            content,
            source_instance: `agent-${j % 3}`,
            tags: [TOPICS[(start + j) % TOPICS.length]],
          }),
          actor,
        ).change,
        embedding: { modelId: provider.modelId, contentHash: contentHash(content), vector: vectors[j] },
      })),
      "bench",
    );
  }
}

/** One workspace in bulk, as the app role, with ingest's row statement and entity writer. */
async function bulkWorkspace(db: RelayDatabase, ws: string, w: number, n: number, doc: Uint8Array) {
  const entities = new PgEntityIndex(db, ws);
  for (let start = 0; start < n; start += 1000) {
    const texts = Array.from({ length: Math.min(1000, n - start) }, (_, j) => fact(w, start + j));
    const vectors = await embed(texts);
    const memories = texts.map((content, j) =>
      sampleMemory({
        content,
        source_instance: `agent-${j % 3}`,
        tags: [TOPICS[(start + j) % TOPICS.length]],
      }),
    );
    await db.tx(ws, async (sql) => {
      if (start === 0) {
        await sql.query("UPDATE workspaces SET embedding_model = $2, embedding_dims = $3 WHERE id = $1", [
          ws,
          provider.modelId,
          DIMS,
        ]);
      }
      await upsertMemoryRows(
        sql,
        ws,
        memories.map((memory, j) => ({
          memory,
          doc,
          embedding: {
            modelId: provider.modelId,
            contentHash: contentHash(memory.content),
            vector: vectors[j],
          },
        })),
      );
      await entities.indexIn(
        sql,
        memories.map((m) => ({ id: m.id, content: m.content, createdMs: Date.parse(m.created_at) })),
      );
    });
  }
}

interface PlanNode {
  "Node Type": string;
  "Index Name"?: string;
  Plans?: PlanNode[];
}

function indexesOf(node: PlanNode, out = new Set<string>()): Set<string> {
  if (node["Index Name"]) out.add(`${node["Node Type"]} ${node["Index Name"]}`);
  for (const child of node.Plans ?? []) indexesOf(child, out);
  return out;
}

/** A statement as the app role in the workspace's scope: EXPLAIN ANALYZE's time and indexes, and its rows. */
async function explain(db: RelayDatabase, ws: string, text: string, values: unknown[]) {
  return db.tx(ws, async (sql) => {
    const [row] = await sql.query<{ "QUERY PLAN": [{ Plan: PlanNode; "Execution Time": number }] }>(
      `EXPLAIN (ANALYZE, FORMAT JSON) ${text}`,
      values,
    );
    const plan = row["QUERY PLAN"][0];
    const rows = await sql.query<{ id: string }>(text, values);
    return { ms: plan["Execution Time"], indexes: [...indexesOf(plan.Plan)], ids: rows.map((r) => r.id) };
  });
}

/** The vector statement by both paths in one workspace: time, indexes, HNSW recall@k against exact. */
async function comparePaths(
  db: RelayDatabase,
  ws: string,
  w: number,
  size: number,
  samples: number,
  paths: VectorPath[],
) {
  const model = { modelId: provider.modelId, dims: DIMS };
  const times: Record<VectorPath, number[]> = { exact: [], hnsw: [] };
  const indexes: Record<VectorPath, Set<string>> = { exact: new Set(), hnsw: new Set() };
  let overlap = 0;
  let asked = 0;
  for (let s = 0; s < samples + 3; s++) {
    const [v] = await embed([queryAbout(w, (s * 37) % size)]);
    const got: Partial<Record<VectorPath, string[]>> = {};
    for (const path of paths) {
      const st = vectorSearchStatement(ws, model, v, 40, {}, path);
      const r = await explain(db, ws, st.text, st.values);
      got[path] = r.ids;
      if (s >= 3) times[path].push(r.ms);
      for (const i of r.indexes) indexes[path].add(i);
    }
    if (s >= 3 && got.hnsw) {
      const exact = new Set(got.exact);
      overlap += (got.hnsw ?? []).filter((id) => exact.has(id)).length;
      asked += exact.size;
    }
  }
  return {
    workspace_memories: size,
    exact_sql_ms: summarize(times.exact),
    hnsw_sql_ms: summarize(times.hnsw),
    exact_indexes: [...indexes.exact],
    hnsw_indexes: [...indexes.hnsw],
    hnsw_recall_at_40: asked ? Math.round((overlap / asked) * 1000) / 1000 : null,
  };
}

/** Recall over HTTP, round-robin over `group`, the first ten answers warming the caches. */
async function measureRecall(
  url: string,
  group: { w: number; ws: string; n: number; key: string }[],
  n: number,
) {
  const http: number[] = [];
  const noEmbed: number[] = [];
  const embedMs: number[] = [];
  let foreign = 0;
  let empty = 0;
  for (let i = 0; i < n + 10; i++) {
    const q = group[i % group.length];
    const t = performance.now();
    const r = await api<{ results: { memory: { content: string } }[]; retrieval: { embed_ms: number } }>(
      url,
      "POST",
      "/v1/recall",
      { query: queryAbout(q.w, (i * 13) % q.n), limit: 10 },
      q.key,
    );
    const ms = performance.now() - t;
    if (r.status !== 200) throw new Error(`recall answered ${r.status}: ${JSON.stringify(r.body)}`);
    if (i < 10) continue;
    http.push(ms);
    embedMs.push(r.body.retrieval.embed_ms);
    noEmbed.push(ms - r.body.retrieval.embed_ms);
    if (!r.body.results.length) empty++;
    foreign += r.body.results.filter((x) => !x.memory.content.startsWith(`ws${q.w} `)).length;
  }
  return {
    http_ms: summarize(http),
    http_without_query_embedding_ms: summarize(noEmbed),
    query_embedding_ms: summarize(embedMs),
    empty_results: empty,
    results_from_other_workspaces: foreign,
  };
}

/** The keyword and term-frequency statements of a recall, alone, as the app role in the workspace. */
async function textStatements(db: RelayDatabase, ws: string, w: number, samples: number) {
  const keyword: number[] = [];
  const termCounts: number[] = [];
  const indexes = new Set<string>();
  for (let s = 0; s < samples + 3; s++) {
    const terms = keywordTerms(queryAbout(w, s * 7), 16);
    const st = keywordSearchStatement(ws, terms, 40, {});
    const r = await explain(db, ws, st.text, st.values);
    for (const i of r.indexes) indexes.add(i);
    // A fresh cache each time: every term is counted, as on a store's first recall of it.
    const t = performance.now();
    await db.tx(ws, (sql) => new TermFrequencies().read(sql, ws, terms));
    if (s < 3) continue;
    keyword.push(r.ms);
    termCounts.push(performance.now() - t);
  }
  return {
    keyword_sql_ms: summarize(keyword),
    keyword_indexes: [...indexes],
    term_frequencies_ms: summarize(termCounts),
  };
}

async function main() {
  await assertSameVectors();
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  const ownerQuery = async (text: string, params?: unknown[]) => (await admin.query(text, params)).rows;
  const db = await openDatabase({ databaseUrl: appUrl, adminDatabaseUrl: adminUrl, poolSize: 10 });
  const result: Record<string, unknown> = {
    cores: cpus().length,
    workspaces: WORKSPACES,
    memories_per_workspace: MEMORIES,
    large_workspace: LARGE,
    dims: DIMS,
    small_workspace_max: SMALL_WORKSPACE_MAX,
    load_average_start: loadavg().map((x) => Math.round(x * 100) / 100),
  };
  const report = () => {
    result.load_average_end = loadavg().map((x) => Math.round(x * 100) / 100);
    printTable(result);
    writeReport("relay-scale", result);
  };
  let relay: Awaited<ReturnType<typeof startTestRelay>> | null = null;
  try {
    const role = await appRole(db);
    result.role = role.name;
    result.rls_enforced = !role.superuser && !role.bypassRls;
    // Loading into a live HNSW graph costs a graph insert a row: build it once, afterwards.
    await ownerQuery(`DROP INDEX IF EXISTS ${vectorIndexName(DIMS)}`);

    const total = WORKSPACES + (LARGE ? 1 : 0);
    const queriedAt = new Set(
      Array.from({ length: QUERIED }, (_, q) => Math.floor((q * WORKSPACES) / QUERIED)),
    );
    const ids: string[] = [];
    const template = createMemoryDoc(sampleMemory({ content: fact(0, 0) }), newActorId()).change.bytes;
    const t0 = performance.now();
    const load = async (w: number) => {
      const { workspaceId } = await createWorkspace(db, { name: `scale-${w}` });
      ids[w] = workspaceId;
      if (w === WORKSPACES) await bulkWorkspace(db, workspaceId, w, LARGE, template);
      else if (queriedAt.has(w)) await ingestWorkspace(db, workspaceId, w, MEMORIES);
      else await bulkWorkspace(db, workspaceId, w, MEMORIES, template);
    };
    // Two workspaces at a time: one builds its rows while the other's statement runs.
    for (let w = 0; w < total; w += 2) {
      await Promise.all([load(w), ...(w + 1 < total ? [load(w + 1)] : [])]);
      if ((w + 2) % 50 === 0 || w + 2 >= total) {
        const s = (performance.now() - t0) / 1000;
        log(
          `  loaded ${Math.min(w + 2, total)}/${total} workspaces (${Math.round(s)} s, ${Math.round((Math.min(w + 2, total) * MEMORIES) / s)} memories/s)`,
        );
      }
    }
    result.load_s = Math.round((performance.now() - t0) / 100) / 10;
    // What autovacuum would do after such a load: planner statistics and the visibility map.
    await ownerQuery("VACUUM ANALYZE memories");
    await ownerQuery("ANALYZE memory_entities");

    const group = async (pick: (w: number) => boolean) =>
      Promise.all(
        ids
          .map((ws, w) => ({ w, ws, n: w === WORKSPACES ? LARGE : MEMORIES }))
          .filter((q) => pick(q.w))
          .map(async (q) => ({
            ...q,
            key: (await createApiKey(db, q.ws, { name: "bench", scopes: ["read"] })).key,
          })),
      );
    const small = await group((w) => queriedAt.has(w));
    relay = await startTestRelay(db, {
      embedder: { provider, calibration: { floor: 0.1, ceiling: 0.9, weight: 0.3 }, dedupCosine: null },
    });
    log(`recall over HTTP in ${small.length} workspaces of ${MEMORIES} (${QUERIES} queries) …`);
    result.recall_small = await measureRecall(relay.url, small, QUERIES);
    const vectorSmall = await comparePaths(db, small[0].ws, small[0].w, MEMORIES, 30, ["exact"]);
    result.statements_small = {
      ...(await textStatements(db, small[0].ws, small[0].w, 30)),
      vector: vectorSmall,
    };
    report();
    if (SKIP_INDEX) return;

    await ownerQuery(`SET maintenance_work_mem = '${MAINTENANCE_MEM}'`);
    log(`building the HNSW index of ${DIMS} dims (as the relay does, CONCURRENTLY) …`);
    const tb = performance.now();
    const built = await ensureVectorIndexes({ query: ownerQuery }, "postgres");
    const buildS = (performance.now() - tb) / 1000;
    const [size] = await ownerQuery(
      `SELECT pg_relation_size('${vectorIndexName(DIMS)}')::float8 AS index_bytes,
              pg_total_relation_size('memories')::float8 AS table_bytes, (SELECT count(*) FROM memories)::int AS rows`,
    );
    result.index = {
      built,
      build_s: Math.round(buildS * 10) / 10,
      maintenance_work_mem: MAINTENANCE_MEM,
      index_mb: Math.round(size.index_bytes / 2 ** 20),
      table_with_indexes_mb: Math.round(size.table_bytes / 2 ** 20),
      rows: size.rows,
    };
    result.statements_small = {
      ...(result.statements_small as object),
      vector: await comparePaths(db, small[0].ws, small[0].w, MEMORIES, 30, ["exact", "hnsw"]),
    };
    if (LARGE) {
      const large = await group((w) => w === WORKSPACES);
      log(`recall over HTTP in the workspace of ${LARGE} (${QUERIES} queries) …`);
      result.recall_large = await measureRecall(relay.url, large, QUERIES);
      result.statements_large = {
        ...(await textStatements(db, large[0].ws, WORKSPACES, 30)),
        vector: await comparePaths(db, large[0].ws, WORKSPACES, LARGE, 30, ["exact", "hnsw"]),
      };
    }
    report();
  } finally {
    await relay?.close();
    await db.close();
    await admin.end();
  }
}

type Summary = { p50: number; p95: number; p99: number };
interface Paths {
  exact_sql_ms: Summary;
  hnsw_sql_ms: Summary;
  exact_indexes: string[];
  hnsw_indexes: string[];
  hnsw_recall_at_40: number | null;
}
interface Statements {
  keyword_sql_ms: Summary;
  keyword_indexes: string[];
  term_frequencies_ms: Summary;
  vector: Paths;
}
interface Recall {
  http_ms: Summary;
  http_without_query_embedding_ms: Summary;
  results_from_other_workspaces: number;
}

function printTable(r: Record<string, unknown>) {
  const rows: [string, string][] = [];
  const s = (x: Summary | undefined) =>
    x && Number.isFinite(x.p50) ? `p50 ${x.p50} · p95 ${x.p95} · p99 ${x.p99}` : "-";
  const recall = (label: string, x: Recall | undefined) => {
    if (!x) return;
    rows.push([`recall HTTP, ${label} (ms)`, s(x.http_ms)]);
    rows.push(["  without query embedding (ms)", s(x.http_without_query_embedding_ms)]);
    rows.push(["  rows from other workspaces", String(x.results_from_other_workspaces)]);
  };
  const statements = (label: string, x: Statements | undefined) => {
    if (!x) return;
    rows.push([
      `vector SQL exact, ${label} (ms)`,
      `${s(x.vector.exact_sql_ms)} [${x.vector.exact_indexes.join(", ")}]`,
    ]);
    rows.push([
      `vector SQL hnsw, ${label} (ms)`,
      `${s(x.vector.hnsw_sql_ms)} recall@40 ${x.vector.hnsw_recall_at_40 ?? "-"} [${x.vector.hnsw_indexes.join(", ")}]`,
    ]);
    rows.push([`keyword SQL, ${label} (ms)`, `${s(x.keyword_sql_ms)} [${x.keyword_indexes.join(", ")}]`]);
    rows.push([`term frequencies, ${label} (ms)`, s(x.term_frequencies_ms)]);
  };
  recall(`${r.memories_per_workspace}-memory workspaces`, r.recall_small as Recall | undefined);
  recall(`${r.large_workspace}-memory workspace`, r.recall_large as Recall | undefined);
  statements("small ws", r.statements_small as Statements | undefined);
  statements("large ws", r.statements_large as Statements | undefined);
  const idx = r.index as Record<string, number> | undefined;
  if (idx) rows.push(["HNSW build", `${idx.build_s} s, ${idx.index_mb} MB over ${idx.rows} rows`]);
  rows.push(["load average start → end", `${r.load_average_start} → ${r.load_average_end}`]);
  const width = Math.max(...rows.map((x) => x[0].length));
  for (const [k, v] of rows) log(`${k.padEnd(width)}  ${v}`);
}

await main();
