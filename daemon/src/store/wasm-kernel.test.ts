import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import wabt from "wabt";
import { HAMMING_WASM_BASE64 } from "./hamming-kernel.ts";
import { INT8_DOT_WASM_BASE64 } from "./rescore-kernel.ts";

describe("the vector index's WebAssembly kernels", () => {
  for (const [file, embedded] of [
    ["hamming.wat", HAMMING_WASM_BASE64],
    ["int8-dot.wat", INT8_DOT_WASM_BASE64],
  ]) {
    it(`embeds ${file} as assembled`, async () => {
      const tools = await wabt();
      const module = tools.parseWat(file, readFileSync(new URL(`./${file}`, import.meta.url), "utf8"));
      module.validate();
      const { buffer } = module.toBinary({});
      expect(Buffer.from(buffer).toString("base64")).toBe(embedded);
    });
  }
});
