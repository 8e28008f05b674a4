import { KernelInstance } from "./wasm-kernel.ts";

/**
 * One inverted list's codes in WebAssembly memory, scanned by the kernel in `hamming.wat`.
 * JS has no popcount instruction: its bit-twiddling version took 3 ms over 100k × 512-bit codes,
 * the kernel's `i64.popcnt` 0.3 ms (measured on this 2-core VM). Each list has a memory of its
 * own, grown in place as members join, so its codes never move once written. A scan leaves each
 * code's distance and a histogram of them in that memory, and `select` picks the codes within
 * a distance from there: the distances of 100k codes never pass through JS.
 */

/** `hamming.wat` assembled (wabt's wat2wasm); `wasm-kernel.test.ts` checks it still is. */
export const HAMMING_WASM_BASE64 =
  "AGFzbQEAAAABEgJgBX9/f39/AGAFf39/f38BfwMDAgABBQMBAAEHHQMGbWVtb3J5AgAHaGFtbWluZwAABnNlbGVjdAABCs8BAoMBAwN/AX4BfyACQQN0IQUgACABIAVsaiEGAkADQCAAIAZPDQFCACEIQQAhBwNAIAggACAHaikDACAHKQMAhXt8IQggB0EIaiEHIAcgBUkNAAsgAyAIpzsBACAEIAinQQJ0aiEJIAkgCSgCAEEBajYCACADQQJqIQMgACAFaiEADAALCwtIAQJ/AkADQCAFIAFPDQEgBiAETw0BIAAgBUEBdGovAQAgAk0EQCADIAZBAnRqIAU2AgAgBkEBaiEGCyAFQQFqIQUMAAsLIAYL";

type HammingFn = (codes: number, n: number, pairs: number, dist: number, hist: number) => void;
type SelectFn = (dist: number, n: number, threshold: number, out: number, limit: number) => number;

export class ListCodes {
  private readonly words: number;
  /** 64-bit words per code (a code's 32-bit words, padded to an even count). */
  private readonly pairs: number;
  /** Bytes per code; the query's code sits at byte 0, the list's codes from here on. */
  private readonly stride: number;
  /** Histogram bins: every distance a code can have, 0 to its bits. */
  private readonly bins: number;
  private readonly kernel: KernelInstance;
  private readonly hamming: HammingFn;
  private readonly selectFn: SelectFn;
  private capacity = 0;
  private view: Uint32Array = new Uint32Array(0);
  /** Byte offsets of the scratch regions (they move when the capacity grows). */
  private distAt = 0;
  private histAt = 0;
  private pickedAt = 0;

  constructor(words: number, capacity: number) {
    this.words = words;
    this.pairs = Math.ceil(words / 2);
    this.stride = this.pairs * 8;
    this.bins = this.pairs * 64 + 1;
    this.kernel = new KernelInstance(HAMMING_WASM_BASE64);
    this.hamming = this.kernel.exports.hamming as HammingFn;
    this.selectFn = this.kernel.exports.select as SelectFn;
    this.reserve(capacity);
  }

  /** Room for `capacity` codes (and their scratch). */
  reserve(capacity: number): void {
    if (capacity <= this.capacity) return;
    this.distAt = this.stride * (capacity + 1);
    this.histAt = this.distAt + Math.ceil((capacity * 2) / 4) * 4;
    this.pickedAt = this.histAt + this.bins * 4;
    this.view = new Uint32Array(this.kernel.buffer(this.pickedAt + capacity * 4));
    this.capacity = capacity;
  }

  /** The code at `pos`: `words` 32-bit words of `source` from `offset`. */
  set(pos: number, source: Uint32Array<ArrayBufferLike>, offset: number): void {
    this.view.set(source.subarray(offset, offset + this.words), ((pos + 1) * this.stride) >>> 2);
  }

  /** The code at `from` copied to `to` (a member moved within its list). */
  move(to: number, from: number): void {
    const s = this.stride >>> 2;
    this.view.copyWithin((to + 1) * s, (from + 1) * s, (from + 2) * s);
  }

  /**
   * Hamming distances of the first `n` codes to `q`, kept for `select`; how many codes lie at
   * each distance is added to `hist` (its length: the codes' bits + 1 or more).
   */
  scan(q: Uint32Array, n: number, hist: Uint32Array): void {
    if (n === 0) return;
    const view = this.view;
    view.set(q, 0);
    const h = this.histAt >>> 2;
    view.fill(0, h, h + this.bins);
    this.hamming(this.stride, n, this.pairs, this.distAt, this.histAt);
    for (let d = 0; d < this.bins; d++) hist[d] += view[h + d];
  }

  /** Positions of the first `n` codes within `threshold` of the last scan's query, in order, at most `limit`. */
  select(n: number, threshold: number, limit: number): Uint32Array {
    const count = this.selectFn(this.distAt, n, threshold, this.pickedAt, Math.min(limit, n));
    const p = this.pickedAt >>> 2;
    return this.view.subarray(p, p + count);
  }
}
