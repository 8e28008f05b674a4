import { describe, expect, it } from "vitest";
import { Int8Rescorer } from "./rescore-kernel.ts";

function random(seed: number): () => number {
  let s = seed;
  return () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 2 ** 32;
  };
}

describe("Int8Rescorer (int8-dot.wat)", () => {
  // 20 is not a multiple of the kernel's 8 lanes; 1536 × 127 × 16,383 would overflow an i32.
  for (const dims of [20, 384, 512, 1536]) {
    it(`scores ${dims}-d int8 vectors as the float dot does, picked out of order, as the scratch grows`, () => {
      const next = random(dims);
      const count = 300;
      const int8 = Int8Array.from({ length: count * dims }, () => Math.round(next() * 254 - 127));
      // The extremes: a vector of +127 everywhere against a query at its largest everywhere.
      int8.fill(127, 0, dims);
      const scales = Float32Array.from({ length: count }, () => 0.001 + next() * 0.01);
      const query = Float32Array.from({ length: dims }, () => next() - 0.5);
      const rescorer = new Int8Rescorer(dims);
      for (const n of [10, 80, count]) {
        const slots = Array.from({ length: n }, (_, i) => (i * 7919) % count);
        const got = rescorer.score(query, int8, scales, slots, n);
        for (let c = 0; c < n; c++) {
          let want = 0;
          for (let i = 0; i < dims; i++) want += int8[slots[c] * dims + i] * query[i];
          want *= scales[slots[c]];
          const norm = Math.sqrt(dims) * 127 * scales[slots[c]];
          expect(Math.abs(got[c] - want) / norm).toBeLessThan(1e-4);
        }
      }
      const ones = new Float32Array(dims).fill(0.25);
      const [top] = rescorer.score(ones, int8, scales, [0], 1);
      expect(top).toBeCloseTo(127 * 0.25 * dims * scales[0], 6);
      expect([...rescorer.score(new Float32Array(dims), int8, scales, [1, 2], 2)]).toEqual([0, 0]);
    });
  }
});
