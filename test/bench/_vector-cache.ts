/**
 * An embedding provider wrapped with an on-disk cache keyed by model id + kind + content hash,
 * so benchmark reruns with a slow model (USE-lite: ~2 minutes for the eval set) are fast.
 * Vectors are stored as base64 Float32 in one JSON file per model under `dir`.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { EmbeddingProvider, EmbedKind } from "../../shared/src/embed/provider.ts";

export interface CachedProvider extends EmbeddingProvider {
  /** Writes new vectors to disk (also done by close). */
  flush(): void;
  readonly hits: number;
  readonly misses: number;
}

export function cacheKey(modelId: string, kind: EmbedKind, text: string): string {
  return createHash("sha256").update(`${modelId}\0${kind}\0${text}`).digest("hex").slice(0, 32);
}

export function cachedProvider(inner: EmbeddingProvider, dir: string): CachedProvider {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${inner.modelId}.json`);
  const table: Record<string, string> = existsSync(file) ? JSON.parse(readFileSync(file, "utf8")) : {};
  let dirty = false;
  let hits = 0;
  let misses = 0;
  const decode = (b64: string) => {
    const buf = Buffer.from(b64, "base64");
    return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  };
  const flush = () => {
    if (!dirty) return;
    writeFileSync(`${file}.tmp`, JSON.stringify(table));
    renameSync(`${file}.tmp`, file);
    dirty = false;
  };
  return {
    modelId: inner.modelId,
    dims: inner.dims,
    get hits() {
      return hits;
    },
    get misses() {
      return misses;
    },
    flush,
    async embed(texts: readonly string[], kind: EmbedKind): Promise<Float32Array[]> {
      const keys = texts.map((t) => cacheKey(inner.modelId, kind, t));
      const missing = keys.map((k, i) => (table[k] === undefined ? i : -1)).filter((i) => i >= 0);
      hits += texts.length - missing.length;
      misses += missing.length;
      if (missing.length) {
        const vectors = await inner.embed(
          missing.map((i) => texts[i]),
          kind,
        );
        missing.forEach((i, j) => {
          const v = vectors[j];
          table[keys[i]] = Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64");
        });
        dirty = true;
      }
      return keys.map((k) => decode(table[k]));
    },
    async close() {
      flush();
      await inner.close();
    },
  };
}
