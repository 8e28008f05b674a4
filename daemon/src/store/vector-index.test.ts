import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { VectorIndex } from "./vector-index.ts";
import { loadIndexSnapshot, saveIndexSnapshot } from "./vector-index-snapshot.ts";

/** Seeded clustered unit vectors: topic centroid plus noise, like real embeddings. */
function clustered(count: number, dims: number, topics: number, seed = 1): Float32Array[] {
  let s = seed;
  const random = () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return (s >>> 8) / 16777216;
  };
  const gaussian = () =>
    Math.sqrt(-2 * Math.log(Math.max(1e-12, random()))) * Math.cos(2 * Math.PI * random());
  const unit = (v: Float32Array) => {
    let n = 0;
    for (const x of v) n += x * x;
    return v.map((x) => x / (Math.sqrt(n) || 1));
  };
  const centroids = Array.from({ length: topics }, () => unit(Float32Array.from({ length: dims }, gaussian)));
  return Array.from({ length: count }, () => {
    const c = centroids[Math.floor(random() * topics)];
    return unit(Float32Array.from(c, (x) => x + gaussian() * 0.05));
  });
}

/** Rids (index + 1) of the exact top k by dot product. */
function exactTop(vectors: Float32Array[], q: Float32Array, k: number): number[] {
  const scored = vectors.map((v, i) => {
    let s = 0;
    for (let d = 0; d < v.length; d++) s += v[d] * q[d];
    return { rid: i + 1, s };
  });
  return scored
    .sort((a, b) => b.s - a.s)
    .slice(0, k)
    .map((h) => h.rid);
}

/** Lists trained at 2,000 vectors (200,000 in the store): the same code paths, at test size. */
const TRAIN_AT = 2000;

describe("vector index", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it("finds the exact top 10 through its inverted lists, scores close to the float cosine", () => {
    const dims = 256;
    const vectors = clustered(TRAIN_AT * 4, dims, 60);
    const index = new VectorIndex(dims, { trainAt: TRAIN_AT });
    for (const [i, v] of vectors.entries()) index.upsert(i + 1, v);
    expect(index.listCount).toBeGreaterThan(1);
    let found = 0;
    const queries = 30;
    for (let q = 0; q < queries; q++) {
      const query = vectors[q * 101];
      const hits = index.search(query, 200).slice(0, 10);
      const exact = new Set(exactTop(vectors, query, 10));
      found += hits.filter((h) => exact.has(h.rid)).length;
      expect(hits[0].score).toBeCloseTo(1, 1);
    }
    expect(found / (queries * 10)).toBeGreaterThanOrEqual(0.95);
  });

  it("never returns a removed vector, and keeps the rest findable after removals and updates", () => {
    const dims = 64;
    const vectors = clustered(TRAIN_AT + 1000, dims, 40, 7);
    const index = new VectorIndex(dims, { trainAt: TRAIN_AT });
    for (const [i, v] of vectors.entries()) index.upsert(i + 1, v);
    const removed = new Set<number>();
    for (let rid = 1; rid <= vectors.length; rid += 3) {
      index.remove(rid);
      removed.add(rid);
    }
    // Updates move a vector to another list.
    index.upsert(2, vectors[10]);
    vectors[1] = vectors[10];
    expect(index.size).toBe(vectors.length - removed.size);
    expect(index.has(1)).toBe(false);
    expect(index.has(2)).toBe(true);
    for (const q of [0, 500, 1201, 2500]) {
      const hits = index.search(vectors[q], 100);
      for (const h of hits) expect(removed.has(h.rid)).toBe(false);
      if (!removed.has(q + 1)) expect(hits.slice(0, 10).map((h) => h.rid)).toContain(q + 1);
    }
    // Restricted to given rids: only those, removed ones left out.
    const allowed = [2, 4, 5, 7, 8, 10];
    const hits = index.search(vectors[4], 10, allowed);
    expect(hits.map((h) => h.rid).sort((a, b) => a - b)).toEqual([2, 5, 8]);
    expect(hits[0].rid).toBe(5);
  });

  it("scans each list's current codes: after removals and updates every vector is its own nearest", () => {
    // 6,000 vectors: a probe scans ~2,000 codes and rescores the 1,000 nearest by Hamming
    // distance, so a list holding a stale code (a removed or moved vector's) loses its vector.
    const dims = 64;
    const vectors = clustered(6000, dims, 40, 11);
    const index = new VectorIndex(dims, { trainAt: TRAIN_AT });
    for (const [i, v] of vectors.entries()) index.upsert(i + 1, v);
    // Searches near every topic gather the lists' codes: the changes below must keep them.
    for (let i = 0; i < vectors.length; i += 50) index.search(vectors[i], 10);
    const gone = new Set<number>();
    for (let rid = 1; rid <= vectors.length; rid += 3) {
      index.remove(rid);
      gone.add(rid);
    }
    for (let rid = 2; rid <= 200; rid += 3) index.upsert(rid, vectors[(rid + 2999) % vectors.length]);
    let own = 0;
    let asked = 0;
    for (let rid = 203; rid <= vectors.length; rid += 97) {
      if (gone.has(rid)) continue;
      asked++;
      if (index.search(vectors[rid - 1], 10)[0]?.rid === rid) own++;
    }
    expect(asked).toBeGreaterThan(30);
    expect(own).toBe(asked);
  });

  it("saves to a file and reads back the same index, refusing a file another token names", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tm-vecidx-"));
    dirs.push(dir);
    const dims = 96;
    const vectors = clustered(TRAIN_AT + 100, dims, 30, 3);
    const index = new VectorIndex(dims, { trainAt: TRAIN_AT });
    for (const [i, v] of vectors.entries()) index.upsert(i + 1, v);
    index.remove(5);
    const path = join(dir, "memories.db.vectors");
    saveIndexSnapshot(path, index, "token-a");
    expect(existsSync(path)).toBe(true);
    expect(await loadIndexSnapshot(path, dims, "token-b")).toBeNull();
    expect(await loadIndexSnapshot(path, dims + 1, "token-a")).toBeNull();
    const read = await loadIndexSnapshot(path, dims, "token-a", { trainAt: TRAIN_AT });
    expect(read?.size).toBe(index.size);
    expect(read?.listCount).toBe(index.listCount);
    for (const q of [0, 77, 2000]) {
      expect(read?.search(vectors[q], 50)).toEqual(index.search(vectors[q], 50));
    }
    // The read index keeps working: new vectors and removals.
    read?.upsert(999_999, vectors[42]);
    read?.remove(43);
    const hits = read?.search(vectors[42], 10).map((h) => h.rid) ?? [];
    expect(hits).toContain(999_999);
    expect(hits).not.toContain(43);
  });
});
