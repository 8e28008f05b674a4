/**
 * The corpora every engine of `pnpm bench peers` reads, made once by the parent process:
 *  - LoCoMo: each turn a memory, one index per conversation, vectors from USE-lite computed once
 *    through the shared on-disk vector cache (a child reads them back without loading the model);
 *  - synthetic N: `syntheticCorpus(N)` written as a flat Float32 file + one text per line, and
 *    the queries (`queryFor`, seed 7 as `pnpm bench daemon`) with their exact top 10 by brute force.
 * Everything lands under bench-results/cache/ (git-ignored) and is reused by later runs.
 */
import { closeSync, existsSync, openSync, readFileSync, readSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createProvider as createUseLite, USE_LITE_MODEL_ID } from "@tribalmemory/shared/embed/use-lite";
import { queryFor, rng, SYNTHETIC_T0, syntheticCorpus, syntheticId } from "../_corpus.ts";
import { type LocomoQuestion, loadLocomo } from "../_locomo-data.ts";
import { cachedProvider, cacheKey } from "../_vector-cache.ts";
import type { PeerDoc } from "./engine.ts";

export const SYNTHETIC_DIMS = 384;
/** The daemon's stores are labelled with a model id; the synthetic vectors borrow bge-small's shape. */
export const SYNTHETIC_MODEL_ID = "bge-small-en-v1.5";
/** Queries whose exact top 10 is computed, for the engines' ANN recall@10. */
const EXACT_QUERIES = 50;

export interface LocomoFixture {
  conversations: Map<string, PeerDoc[]>;
  questions: LocomoQuestion[];
  questionVectors: Map<string, Float32Array>;
  /** Memory id → LoCoMo `dia_id`, for scoring. */
  diaOf: Map<string, string>;
}

/** Computes (parent, once) or reads (child) the LoCoMo turns and questions with their USE-lite vectors. */
export async function locomoFixture(
  datasetPath: string,
  cacheDir: string,
  mayEmbed: boolean,
  progress: (s: string) => void = () => {},
): Promise<LocomoFixture> {
  const { turns, questions } = loadLocomo(datasetPath);
  const embedDir = join(cacheDir, "peers-embed");
  const texts = turns.map((t) => t.content);
  const questionTexts = [...new Set(questions.map((q) => q.question))];
  let passages: Float32Array[];
  let queries: Float32Array[];
  if (mayEmbed) {
    const provider = cachedProvider(await createUseLite({}), embedDir);
    const embedAll = async (list: string[], kind: "query" | "passage") => {
      const out: Float32Array[] = [];
      for (let i = 0; i < list.length; i += 64) {
        progress(`LoCoMo: USE-lite ${kind} vectors ${i}/${list.length} (cached after the first run)`);
        out.push(...(await provider.embed(list.slice(i, i + 64), kind)));
      }
      return out;
    };
    passages = await embedAll(texts, "passage");
    queries = await embedAll(questionTexts, "query");
    await provider.close();
  } else {
    const file = join(embedDir, `${USE_LITE_MODEL_ID}.json`);
    const table = JSON.parse(readFileSync(file, "utf8")) as Record<string, string>;
    const read = (t: string, kind: "query" | "passage") => {
      const b64 = table[cacheKey(USE_LITE_MODEL_ID, kind, t)];
      if (b64 === undefined) throw new Error(`no cached vector for ${JSON.stringify(t)} in ${file}`);
      const buf = Buffer.from(b64, "base64");
      return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
    };
    passages = texts.map((t) => read(t, "passage"));
    queries = questionTexts.map((t) => read(t, "query"));
  }
  // Ids as `pnpm bench locomo` makes them, UUIDv7 of the session's time plus the turn's index,
  // so a session's turns keep their order (the daemon's thread recall reads it); the random
  // part is the turn's number, so the process that builds and the one that queries agree.
  const conversations = new Map<string, PeerDoc[]>();
  const diaOf = new Map<string, string>();
  let turnInSession = 0;
  for (const [i, t] of turns.entries()) {
    const sameSession = i > 0 && turns[i - 1].createdAt.getTime() === t.createdAt.getTime();
    turnInSession = sameSession ? turnInSession + 1 : 0;
    const id = locomoId(t.createdAt.getTime() + turnInSession, i);
    diaOf.set(id, t.diaId);
    const list = conversations.get(t.conversation) ?? [];
    list.push({
      id,
      text: t.content,
      vector: passages[i],
      createdAt: t.createdAt.toISOString(),
      source: `locomo@${t.conversation}`,
    });
    conversations.set(t.conversation, list);
  }
  return {
    conversations,
    questions,
    questionVectors: new Map(questionTexts.map((t, i) => [t, queries[i]])),
    diaOf,
  };
}

/** A UUIDv7 of `ms` whose random bits are `n`: the same id in every process. */
function locomoId(ms: number, n: number): string {
  const t = ms.toString(16).padStart(12, "0");
  return `${t.slice(0, 8)}-${t.slice(8)}-7000-8000-${n.toString(16).padStart(12, "0")}`;
}

export interface SyntheticQuery {
  text: string;
  vector: Float32Array;
  /** Exact top-10 ids by cosine (only the first EXACT_QUERIES queries carry it). */
  exact?: string[];
}

/** The same ids as `pnpm bench daemon` gives its synthetic memories. */
export { syntheticId };

const files = (cacheDir: string, size: number) => ({
  vectors: join(cacheDir, `peers-${size}.f32`),
  texts: join(cacheDir, `peers-${size}.txt`),
  queries: join(cacheDir, `peers-${size}-queries.json`),
});

/** Writes the synthetic corpus and its queries once (parent process). */
export function ensureSynthetic(
  size: number,
  queryCount: number,
  cacheDir: string,
  progress: (s: string) => void,
): void {
  const f = files(cacheDir, size);
  if (existsSync(f.queries)) {
    const have = (JSON.parse(readFileSync(f.queries, "utf8")) as unknown[]).length;
    if (have >= queryCount) return;
  }
  progress(`synthetic ${size}: generating the corpus`);
  const corpus = syntheticCorpus(size, SYNTHETIC_DIMS);
  const flat = new Float32Array(size * SYNTHETIC_DIMS);
  for (const [i, v] of corpus.vectors.entries()) flat.set(v, i * SYNTHETIC_DIMS);
  writeFileSync(`${f.vectors}.tmp`, new Uint8Array(flat.buffer));
  renameSync(`${f.vectors}.tmp`, f.vectors);
  writeFileSync(`${f.texts}.tmp`, `${corpus.texts.join("\n")}\n`);
  renameSync(`${f.texts}.tmp`, f.texts);
  const random = rng(7);
  const qs = Array.from({ length: queryCount }, () => queryFor(corpus, Math.floor(random() * size), random));
  progress(`synthetic ${size}: exact top 10 of ${Math.min(EXACT_QUERIES, qs.length)} queries (brute force)`);
  const exact = exactTop10(flat, size, qs.slice(0, EXACT_QUERIES));
  const out = qs.map((q, i) => ({
    text: q.text,
    vector: [...q.vector],
    ...(exact[i] ? { exact: exact[i] } : {}),
  }));
  writeFileSync(`${f.queries}.tmp`, JSON.stringify(out));
  renameSync(`${f.queries}.tmp`, f.queries);
}

/** One pass over the corpus for every query: the exact top 10 by dot product (unit vectors). */
function exactTop10(flat: Float32Array, size: number, qs: { vector: Float32Array }[]): string[][] {
  const tops = qs.map(() => [] as { i: number; s: number }[]);
  for (let i = 0; i < size; i++) {
    const base = i * SYNTHETIC_DIMS;
    for (const [qi, q] of qs.entries()) {
      let s = 0;
      for (let j = 0; j < SYNTHETIC_DIMS; j++) s += flat[base + j] * q.vector[j];
      const top = tops[qi];
      if (top.length < 10 || s > top[top.length - 1].s) {
        top.push({ i, s });
        top.sort((a, b) => b.s - a.s);
        if (top.length > 10) top.pop();
      }
    }
  }
  return tops.map((t) => t.map((x) => syntheticId(x.i)));
}

export function syntheticQueries(size: number, cacheDir: string, count: number): SyntheticQuery[] {
  const raw = JSON.parse(readFileSync(files(cacheDir, size).queries, "utf8")) as {
    text: string;
    vector: number[];
    exact?: string[];
  }[];
  return raw.slice(0, count).map((q) => ({ ...q, vector: Float32Array.from(q.vector) }));
}

/** The synthetic corpus in batches, read from disk as it goes (an in-memory engine's RSS stays its own). */
export function* syntheticBatches(size: number, cacheDir: string, batch = 10_000): Generator<PeerDoc[]> {
  const f = files(cacheDir, size);
  let texts: string[] | null = readFileSync(f.texts, "utf8").split("\n");
  const fd = openSync(f.vectors, "r");
  try {
    for (let start = 0; start < size; start += batch) {
      const n = Math.min(batch, size - start);
      const buf = Buffer.alloc(n * SYNTHETIC_DIMS * 4);
      readSync(fd, buf, 0, buf.length, start * SYNTHETIC_DIMS * 4);
      const all = new Float32Array(buf.buffer, buf.byteOffset, n * SYNTHETIC_DIMS);
      const docs: PeerDoc[] = [];
      for (let j = 0; j < n; j++) {
        const i = start + j;
        docs.push({
          id: syntheticId(i),
          text: texts[i],
          vector: all.slice(j * SYNTHETIC_DIMS, (j + 1) * SYNTHETIC_DIMS),
          createdAt: new Date(SYNTHETIC_T0 + i * 60_000).toISOString(),
          source: `agent-${i % 7}`,
        });
      }
      yield docs;
    }
  } finally {
    closeSync(fd);
    texts = null;
  }
}
