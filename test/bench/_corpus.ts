import type { Memory } from "@tribalmemory/shared/memory/types";
/**
 * A synthetic corpus for latency benchmarks: texts from a fixed vocabulary and clustered
 * 384-d unit vectors (centroid + noise), so nearest neighbours are meaningful and binary
 * quantisation sees realistic, not degenerate, vectors. Seeded: every run builds the same set.
 */
/** The synthetic corpus's memory i: its id, writer, tags and time (one a minute from 2026-01-01). */
export const SYNTHETIC_T0 = Date.parse("2026-01-01T00:00:00Z");

export function syntheticId(i: number): string {
  return `00000000-0000-4000-8000-${i.toString(16).padStart(12, "0")}`;
}

export function syntheticMemory(i: number, text: string): Memory {
  const at = new Date(SYNTHETIC_T0 + i * 60_000).toISOString();
  return {
    id: syntheticId(i),
    content: text,
    source_type: "auto_capture",
    source_instance: `agent-${i % 7}`,
    tags: [`t${i % 50}`],
    context: null,
    confidence: 1,
    supersedes: null,
    duplicate_of: null,
    created_at: at,
    updated_at: at,
    deleted: false,
  };
}

export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SYLLABLES = [
  "ka",
  "lo",
  "mi",
  "ne",
  "ru",
  "sa",
  "ti",
  "vo",
  "ze",
  "pa",
  "qui",
  "dor",
  "fen",
  "gal",
  "hup",
  "jex",
];

export function vocabulary(size: number, random: () => number): string[] {
  const words = new Set<string>();
  while (words.size < size) {
    const n = 2 + Math.floor(random() * 3);
    let w = "";
    for (let i = 0; i < n; i++) w += SYLLABLES[Math.floor(random() * SYLLABLES.length)];
    words.add(w);
  }
  return [...words];
}

function gaussian(random: () => number): number {
  const u = Math.max(1e-12, random());
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

export function unit(v: Float32Array): Float32Array {
  let s = 0;
  for (const x of v) s += x * x;
  const n = Math.sqrt(s) || 1;
  for (let i = 0; i < v.length; i++) v[i] /= n;
  return v;
}

export interface SyntheticCorpus {
  texts: string[];
  vectors: Float32Array[];
  vocab: string[];
}

export function syntheticCorpus(count: number, dims = 384, seed = 42): SyntheticCorpus {
  const random = rng(seed);
  const vocab = vocabulary(5000, random);
  const centroids = Array.from({ length: 500 }, () =>
    unit(Float32Array.from({ length: dims }, () => gaussian(random))),
  );
  const texts: string[] = [];
  const vectors: Float32Array[] = [];
  for (let i = 0; i < count; i++) {
    const len = 12 + Math.floor(random() * 24);
    // Zipf-ish word choice: common words recur, rare ones identify.
    const words = Array.from({ length: len }, () => vocab[Math.floor(vocab.length * random() ** 2.5)]);
    texts.push(`${words.join(" ")} #${i}`);
    const c = centroids[Math.floor(random() * centroids.length)];
    vectors.push(unit(Float32Array.from(c, (x) => x + gaussian(random) * 0.06)));
  }
  return { texts, vectors, vocab };
}

/** A query near memory `i`: a few of its words, its vector plus noise. */
export function queryFor(
  corpus: SyntheticCorpus,
  i: number,
  random: () => number,
): { text: string; vector: Float32Array } {
  const words = corpus.texts[i].split(" ").slice(0, -1);
  const pick = Array.from({ length: 4 }, () => words[Math.floor(random() * words.length)]);
  const v = unit(Float32Array.from(corpus.vectors[i], (x) => x + gaussian(random) * 0.03));
  return { text: pick.join(" "), vector: v };
}
