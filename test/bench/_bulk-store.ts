/**
 * A large daemon data folder, built fast for `pnpm bench scale`: synthetic memories written
 * straight through the store (`writeSync`, thousands per transaction: the same rows, document,
 * change, FTS, entities and vector a remember writes) instead of one HTTP call each.
 *
 * Memory `i` is generated from its index alone (its own seeded stream), so the corpus is never
 * held in memory: a query near memory `i`, or the exact nearest neighbours of a query, are
 * recomputed by generating the vectors again.
 */
import { existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { SqliteMemoryStore } from "@tribalmemory/daemon/store/sqlite-store";
import { contentHash, dedupKey } from "@tribalmemory/shared/memory/content";
import type { Memory } from "@tribalmemory/shared/memory/types";
import { rng, syntheticId, syntheticMemory, unit, vocabulary } from "./_corpus.ts";

export interface ScaleCorpus {
  count: number;
  dims: number;
  vocab: string[];
  centroids: Float32Array[];
}

export function scaleCorpus(count: number, dims: number, seed = 42): ScaleCorpus {
  const random = rng(seed);
  const vocab = vocabulary(5000, random);
  // About one topic per thousand memories (at least 100): neighbours are meaningful at every size.
  const topics = Math.max(100, Math.min(2000, Math.round(count / 1000)));
  const centroids = Array.from({ length: topics }, () =>
    unit(Float32Array.from({ length: dims }, () => gaussian(random))),
  );
  return { count, dims, vocab, centroids };
}

function gaussian(random: () => number): number {
  const u = Math.max(1e-12, random());
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

function streamOf(corpus: ScaleCorpus, i: number, salt: number): () => number {
  return rng(Math.imul(i + 1, 2654435761) ^ corpus.dims ^ salt);
}

/** Memory `i`'s text: 12 to 35 words, Zipf-ish (common words recur, rare ones identify). */
export function scaleText(corpus: ScaleCorpus, i: number): string {
  const random = streamOf(corpus, i, 0);
  const len = 12 + Math.floor(random() * 24);
  const words: string[] = [];
  for (let w = 0; w < len; w++) words.push(corpus.vocab[Math.floor(corpus.vocab.length * random() ** 2.5)]);
  return `${words.join(" ")} #${i}`;
}

/** Memory `i`'s unit vector: its topic's centroid plus noise. */
export function scaleVector(corpus: ScaleCorpus, i: number): Float32Array {
  const random = streamOf(corpus, i, 0x5bd1e995);
  const c = corpus.centroids[Math.floor(random() * corpus.centroids.length)];
  const v = new Float32Array(corpus.dims);
  for (let d = 0; d < corpus.dims; d++) v[d] = c[d] + gaussian(random) * 0.06;
  return unit(v);
}

export function scaleMemory(corpus: ScaleCorpus, i: number): { text: string; vector: Float32Array } {
  return { text: scaleText(corpus, i), vector: scaleVector(corpus, i) };
}

/** A query near memory `i`: four of its words, its vector plus noise. */
export function scaleQuery(corpus: ScaleCorpus, i: number, random: () => number) {
  const m = scaleMemory(corpus, i);
  const words = m.text.split(" ").slice(0, -1);
  const text = Array.from({ length: 4 }, () => words[Math.floor(random() * words.length)]).join(" ");
  return { text, vector: unit(Float32Array.from(m.vector, (x) => x + gaussian(random) * 0.03)) };
}

/**
 * The exact 10 nearest memories (by cosine) of each query, over the whole corpus, regenerated
 * one memory at a time: the reference for the index's recall@10.
 */
export function exactTop10(corpus: ScaleCorpus, queries: Float32Array[]): string[][] {
  const tops = queries.map(() => ({ ids: [] as number[], scores: [] as number[] }));
  for (let i = 0; i < corpus.count; i++) {
    const v = scaleVector(corpus, i);
    for (let q = 0; q < queries.length; q++) {
      const query = queries[q];
      let s = 0;
      for (let d = 0; d < v.length; d++) s += v[d] * query[d];
      const t = tops[q];
      if (t.scores.length === 10 && s <= t.scores[9]) continue;
      let at = t.scores.length;
      while (at > 0 && t.scores[at - 1] < s) at--;
      t.scores.splice(at, 0, s);
      t.ids.splice(at, 0, i);
      if (t.scores.length > 10) {
        t.scores.pop();
        t.ids.pop();
      }
    }
  }
  return tops.map((t) => t.ids.map(syntheticId));
}

/** A memory and its vector, as `bulkWrite` takes them. */
export interface BulkRow {
  memory: Memory;
  vector: Float32Array;
}

/** Memory i's thread neighbours in both synthetic corpora: seven agents writing a minute apart. */
const THREAD_STRIDE = 7;

/**
 * Writes `rows` (memory i at rowid i + 1) straight into a new store's tables with the store's
 * own statements' SQL, 10,000 per transaction: the memory row, its tags, its keyword row with
 * its thread neighbours' text and their rowids (memory i's neighbours are i - 7 and i + 7, as
 * the synthetic corpora write them), the embedding's label and the vector. Rows are read as they
 * come (seven ahead, for the next neighbour's text), so a corpus is never held in memory.
 *
 * The corpora name no entities and no dates, so those tables stay empty as a remember would
 * leave them. Not written: each memory's Automerge document and change (~1.5 ms of CPU each, 25
 * min at 1M on an idle core of this machine), which recall never reads.
 */
export async function bulkWrite(options: {
  path: string;
  rows: Iterable<BulkRow>;
  count: number;
  dims: number;
  modelId: string;
  log: (line: string) => void;
}): Promise<void> {
  const store = new SqliteMemoryStore({ path: options.path, readWorker: false });
  await store.setEmbeddingModel(options.modelId, options.dims);
  const db = store.db;
  const st = {
    memory: db.prepare(
      `INSERT INTO memories (rid, id, content, content_hash, dedup_key, source_type, source_instance, tags, context, confidence, supersedes, duplicate_of, created_at, updated_at, created_ms, deleted, expires_ms, project)
       VALUES (@rid, @id, @content, @content_hash, @dedup_key, @source_type, @source_instance, @tags, NULL, 1, NULL, NULL, @created_at, @updated_at, @created_ms, 0, NULL, NULL)`,
    ),
    tag: db.prepare("INSERT INTO memory_tags (tag, rid) VALUES (?, ?)"),
    fts: db.prepare("INSERT INTO memories_fts (rowid, content, tags, prev, next) VALUES (?, ?, ?, ?, ?)"),
    // The thread neighbours' rowids (sqlite-thread-fts.ts): a fresh store counts itself linked.
    link: db.prepare("INSERT INTO memory_links (rid, prev, next) VALUES (?, ?, ?)"),
    embedding: db.prepare("INSERT INTO embeddings (rid, model_id, content_hash) VALUES (?, ?, ?)"),
    vector: db.prepare("INSERT INTO vec_memories (rowid, embedding) VALUES (?, ?)"),
  };
  const started = performance.now();
  /** Rows read and not yet dropped: row i is written once row i + 7, its next neighbour, is read. */
  const window = new Map<number, BulkRow>();
  const textAt = (i: number) => window.get(i)?.memory.content ?? "";
  const write = (i: number) => {
    const { memory: m, vector } = window.get(i) as BulkRow;
    const rid = i + 1;
    const hash = contentHash(m.content);
    st.memory.run({
      rid,
      id: m.id,
      content: m.content,
      content_hash: hash,
      dedup_key: dedupKey(m.content),
      source_type: m.source_type,
      source_instance: m.source_instance,
      tags: JSON.stringify(m.tags),
      created_at: m.created_at,
      updated_at: m.updated_at,
      created_ms: Date.parse(m.created_at),
    });
    for (const tag of m.tags) st.tag.run(tag, rid);
    const prev = textAt(i - THREAD_STRIDE);
    const next = textAt(i + THREAD_STRIDE);
    st.fts.run(rid, m.content, m.tags.join(" "), prev, next);
    if (prev || next) st.link.run(rid, prev ? rid - THREAD_STRIDE : null, next ? rid + THREAD_STRIDE : null);
    st.embedding.run(rid, options.modelId, hash);
    st.vector.run(BigInt(rid), Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength));
    window.delete(i - THREAD_STRIDE); // its last reader was this row
    if ((i + 1) % 10_000 === 0) {
      db.exec("COMMIT");
      if ((i + 1) % 50_000 === 0) {
        const sec = (performance.now() - started) / 1000;
        options.log(
          `  building ${options.count}: ${i + 1} (${Math.round(sec)} s, ${Math.round((i + 1) / sec)}/s)`,
        );
      }
      db.exec("BEGIN");
    }
  };
  let read = 0;
  try {
    db.exec("BEGIN");
    for (const row of options.rows) {
      window.set(read, row);
      if (read >= THREAD_STRIDE) write(read - THREAD_STRIDE);
      read++;
    }
    for (let i = Math.max(0, read - THREAD_STRIDE); i < read; i++) write(i);
    db.exec("COMMIT");
  } finally {
    await store.close(); // the vector index is rebuilt from vec0 when it next opens, then saved
  }
}

/**
 * The data folder for `count` memories of the scale corpus (cached under `cacheDir`): built by
 * `bulkWrite` into a temporary folder and renamed when complete, so an interrupted build is
 * never mistaken for a finished one.
 */
export async function buildScaleFolder(options: {
  cacheDir: string;
  count: number;
  dims: number;
  modelId: string;
  log: (line: string) => void;
}): Promise<{ dir: string; buildSeconds: number | null }> {
  const dir = join(options.cacheDir, `scale-${options.count}-${options.dims}`);
  if (existsSync(join(dir, "memories.db"))) return { dir, buildSeconds: null };
  const tmp = `${dir}.building`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const corpus = scaleCorpus(options.count, options.dims);
  const started = performance.now();
  await bulkWrite({
    ...options,
    path: join(tmp, "memories.db"),
    rows: (function* () {
      for (let i = 0; i < options.count; i++) {
        const { text, vector } = scaleMemory(corpus, i);
        yield { memory: syntheticMemory(i, text), vector };
      }
    })(),
  });
  renameSync(tmp, dir);
  return { dir, buildSeconds: Math.round((performance.now() - started) / 1000) };
}
