/**
 * The WebAssembly kernels of the vector index (`hamming.wat`, `int8-dot.wat`): each module is
 * compiled once from its embedded binary, and each instance owns one memory, grown in place.
 */

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
const compiled = new Map<string, object>();

const PAGE = 65536;

export class KernelInstance {
  private readonly memory: WasmMemory;
  readonly exports: Record<string, unknown>;

  constructor(base64: string) {
    let module = compiled.get(base64);
    if (!module) {
      module = new wasm.Module(Buffer.from(base64, "base64"));
      compiled.set(base64, module);
    }
    this.exports = new wasm.Instance(module).exports;
    this.memory = this.exports.memory as WasmMemory;
  }

  /** The memory, grown (in place) to at least `bytes`; views taken before a growth are stale. */
  buffer(bytes: number): ArrayBuffer {
    const pages = Math.ceil(bytes / PAGE) - this.memory.buffer.byteLength / PAGE;
    if (pages > 0) this.memory.grow(pages);
    return this.memory.buffer;
  }
}
