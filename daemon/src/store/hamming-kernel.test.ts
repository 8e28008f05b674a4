import { describe, expect, it } from "vitest";
import { ListCodes } from "./hamming-kernel.ts";

function bits(x: number): number {
  let n = 0;
  for (let v = x >>> 0; v; v >>>= 1) n += v & 1;
  return n;
}

function randomWords(n: number, seed: number): Uint32Array {
  let s = seed;
  return Uint32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return (s ^ (s >>> 13) ^ Math.imul(s, 2654435761)) >>> 0;
  });
}

describe("ListCodes (hamming.wat)", () => {
  // 96-d codes are 3 words (padded to 2 pairs), 384-d 12, 512-d 16.
  for (const words of [3, 12, 16]) {
    it(`counts and picks by the differing bits of ${words * 32}-bit codes, after growth and moves`, () => {
      const count = 700;
      const codes = randomWords(count * words, words);
      const list = new ListCodes(words, 8);
      for (let pos = 0; pos < count; pos++) {
        list.reserve(pos + 1 > 8 ? Math.ceil((pos + 1) * 1.5) : 8);
        list.set(pos, codes, pos * words);
      }
      // The last member moves into a hole, as a member leaving its list does.
      list.move(5, count - 1);
      codes.copyWithin(5 * words, (count - 1) * words, count * words);
      const n = count - 1;
      const q = randomWords(words, 99);
      const hist = new Uint32Array(Math.ceil(words / 2) * 64 + 1).fill(1); // the scan adds to it
      list.scan(q, n, hist);
      const want: number[] = [];
      const wantHist = new Uint32Array(hist.length).fill(1);
      for (let i = 0; i < n; i++) {
        let d = 0;
        for (let j = 0; j < words; j++) d += bits(codes[i * words + j] ^ q[j]);
        want.push(d);
        wantHist[d]++;
      }
      expect([...hist]).toEqual([...wantHist]);
      // `select` picks the positions within a distance, in order, up to a limit.
      const threshold = [...want].sort((a, b) => a - b)[Math.floor(n / 3)];
      const within = want.flatMap((d, i) => (d <= threshold ? [i] : []));
      expect([...list.select(n, threshold, n)]).toEqual(within);
      expect([...list.select(n, threshold, 7)]).toEqual(within.slice(0, 7));
      expect([...list.select(n - 100, threshold, n)]).toEqual(within.filter((i) => i < n - 100));
    });
  }
});
