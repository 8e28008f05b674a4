/**
 * One inverted list's codes in WebAssembly memory, scanned by the kernel in `hamming.wat`.
 * JS has no popcount instruction: its bit-twiddling version took 3 ms over 100k × 512-bit codes,
 * the kernel's `i64.popcnt` 0.3 ms (measured on this 2-core VM). Each list has a memory of its
 * own, grown in place as members join, so its codes never move once written.
 */

/** `hamming.wat` assembled (wabt's wat2wasm); `hamming-kernel.test.ts` checks it still is. */
export const HAMMING_WASM_BASE64 =
  "AGFzbQEAAAABCAFgBH9/f38AAwIBAAUDAQABBxQCBm1lbW9yeQIAB2hhbW1pbmcAAAprAWkCA38BfiACQQN0IQQgACABIARsaiEFAkADQCAAIAVPDQFCACEHQQAhBgNAIAcgACAGaikDACAGKQMAhXt8IQcgBkEIaiEGIAYgBEkNAAsgAyAHpzsBACADQQJqIQMgACAEaiEADAALCws=";

// Node has WebAssembly; the project's TypeScript libs (no DOM) do not declare it.
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: Record<string, unknown> };
}
const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
let compiled: object | null = null;

type HammingFn = (codes: number, n: number, pairs: number, dist: number) => void;

const PAGE = 65536;

export class ListCodes {
  private readonly words: number;
  /** 64-bit words per code (a code's 32-bit words, padded to an even count). */
  private readonly pairs: number;
  /** Bytes per code; the query's code sits at byte 0, the list's codes from here on. */
  private readonly stride: number;
  private readonly memory: WasmMemory;
  private readonly hamming: HammingFn;
  private capacity = 0;
  private view: Uint32Array = new Uint32Array(0);

  constructor(words: number, capacity: number) {
    this.words = words;
    this.pairs = Math.ceil(words / 2);
    this.stride = this.pairs * 8;
    compiled ??= new wasm.Module(Buffer.from(HAMMING_WASM_BASE64, "base64"));
    const instance = new wasm.Instance(compiled);
    this.memory = instance.exports.memory as WasmMemory;
    this.hamming = instance.exports.hamming as HammingFn;
    this.reserve(capacity);
  }

  /** Room for `capacity` codes (and their distances). */
  reserve(capacity: number): void {
    if (capacity <= this.capacity) return;
    const bytes = this.stride * (capacity + 1) + capacity * 2;
    const pages = Math.ceil(bytes / PAGE) - this.memory.buffer.byteLength / PAGE;
    if (pages > 0) this.memory.grow(pages);
    this.view = new Uint32Array(this.memory.buffer);
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

  /** Hamming distances of the first `n` codes to `q`, written to `out` from `at`. */
  scan(q: Uint32Array, n: number, out: Uint16Array, at: number): void {
    if (n === 0) return;
    this.view.set(q, 0);
    const dist = this.stride * (this.capacity + 1);
    this.hamming(this.stride, n, this.pairs, dist);
    out.set(new Uint16Array(this.memory.buffer, dist, n), at);
  }
}
