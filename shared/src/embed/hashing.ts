import { createHash } from "node:crypto";
import { keywordTerms } from "../recall/keyword-query.ts";
import { type EmbeddingProvider, l2normalize } from "./provider.ts";

/**
 * Feature-hashing bag of words: deterministic, instant, no files. Texts sharing words get
 * similar vectors; it knows no synonyms. Used by tests that need a real vector path without a
 * model, and as the last-resort embedder.
 */
export function createHashingProvider(dims = 384): EmbeddingProvider {
  return {
    modelId: `hashing-bow-${dims}`,
    dims,
    async embed(texts) {
      return texts.map((t) => hashText(t, dims));
    },
    async close() {},
  };
}

function hashText(text: string, dims: number): Float32Array {
  const v = new Float32Array(dims);
  for (const term of keywordTerms(text, 512)) {
    const h = createHash("md5").update(term).digest();
    const idx = h.readUInt32LE(0) % dims;
    v[idx] += h[4] & 1 ? 1 : -1;
  }
  return l2normalize(v);
}

export const createProvider = async (options: Record<string, unknown>) =>
  createHashingProvider(typeof options.dims === "number" ? options.dims : 384);
