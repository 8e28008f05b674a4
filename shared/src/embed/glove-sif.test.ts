import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as gloveSif from "./glove-sif.ts";
import {
  buildGloveCache,
  createProvider,
  GloveSifEmbedder,
  loadGloveTable,
  tokenizeForEmbedding,
  VocabIndex,
} from "./glove-sif.ts";
import type { EmbeddingProvider, EmbeddingProviderFactory } from "./provider.ts";

// Compile-time: the module has the shape a worker thread loads.
const factory: EmbeddingProviderFactory = gloveSif;

const dot = (a: Float32Array, b: Float32Array): number => a.reduce((s, x, i) => s + x * b[i], 0);
const norm = (a: Float32Array): number => Math.sqrt(dot(a, a));

/** A tiny file in the package's format: {"words":[…],"vectors":{"w":[d…,norm,rank]}}. */
function writeFixture(dir: string): { path: string; vectors: Record<string, number[]> } {
  const words = ["the", ",", '"', "cat", "kitten", "dog", "database", "postgres", "line\nbreak", "café"];
  const vectors: Record<string, number[]> = {};
  words.forEach((w, rank) => {
    const v = [Math.sin(rank + 1), Math.cos(rank * 2), (rank % 3) - 1, rank / 10];
    vectors[w] = [...v, Math.hypot(...v), rank];
  });
  vectors.cat = [1, 0.5, 0, 0, 1.118, 3];
  vectors.kitten = [0.9, 0.6, 0.05, 0, 1.08, 4];
  const path = join(dir, "vectors.json");
  writeFileSync(
    path,
    JSON.stringify({
      precision: 8,
      l2NormIndex: 4,
      wordIndex: 5,
      size: words.length,
      dimensions: 4,
      words,
      vectors,
      unkVector: [0, 0, 0, 0, -1],
    }),
  );
  return { path, vectors };
}

describe("tokenizeForEmbedding", () => {
  it("splits kebab, snake, camel case, scoped packages, paths and URLs into words", () => {
    expect(tokenizeForEmbedding("billing-service uses getUserById in src/db/user_repo.ts")).toEqual([
      "billing",
      "service",
      "uses",
      "get",
      "user",
      "by",
      "id",
      "in",
      "src",
      "db",
      "user",
      "repo",
      "ts",
    ]);
    expect(
      tokenizeForEmbedding("@acme/http-client HTTPServer https://ledger-api.staging.acme.dev/healthz"),
    ).toEqual([
      "acme",
      "http",
      "client",
      "http",
      "server",
      "https",
      "ledger",
      "api",
      "staging",
      "acme",
      "dev",
      "healthz",
    ]);
  });

  it("keeps words the vocabulary knows whole and drops possessives", () => {
    const known = (w: string) => ["on-call", "p99", "postgresql"].includes(w);
    expect(tokenizeForEmbedding("Alice's on-call p99 PostgreSQL", known)).toEqual([
      "alice",
      "on-call",
      "p99",
      "postgresql",
    ]);
    expect(tokenizeForEmbedding("on-call p99", () => false)).toEqual(["on", "call", "p", "99"]);
  });
});

describe("glove cache", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "glove-test-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("streams the package JSON into a compact cache, whatever the chunk boundaries", () => {
    const { path, vectors } = writeFixture(dir);
    for (const chunk of [7, 64, 1 << 20]) {
      const cacheDir = join(dir, `cache-${chunk}`);
      buildGloveCache(path, cacheDir, undefined, chunk);
      const table = loadGloveTable({ cacheDir, sourcePath: path });
      expect(table.count).toBe(10);
      expect(table.dims).toBe(4);
      expect(table.words.get('"')).toBe(2);
      expect(table.words.get("café")).toBe(9);
      expect(table.words.get("line break")).toBe(8);
      expect(table.words.get("nope")).toBeUndefined();
      expect(table.words.wordAt(7)).toBe("postgres");
      const r = table.words.get("kitten") as number;
      const row = Array.from(table.rows.subarray(r * 4, r * 4 + 4), (x) => x * table.scales[r]);
      for (const [d, x] of row.entries()) expect(x).toBeCloseTo(vectors.kitten[d], 2);
    }
  });

  it("builds the cache on first load and reuses it after", () => {
    const { path } = writeFixture(dir);
    const cacheDir = join(dir, "auto");
    const stages: string[] = [];
    loadGloveTable({ cacheDir, sourcePath: path, onProgress: (_f, stage) => stages.push(stage) });
    expect(existsSync(join(cacheDir, "glove-100d.v1.bin"))).toBe(true);
    // The fixture is one read (under 8 MiB): one progress event for the one stage.
    expect(stages).toEqual(["building glove cache"]);
    const again: string[] = [];
    loadGloveTable({ cacheDir, sourcePath: join(dir, "missing.json"), onProgress: (_f, s) => again.push(s) });
    expect(again).toEqual([]);
  });

  it("weighs frequent words less than rare ones (SIF)", () => {
    const { path } = writeFixture(dir);
    const e = new GloveSifEmbedder(loadGloveTable({ cacheDir: join(dir, "w"), sourcePath: path }), {
      removeCommonComponent: false,
    });
    expect(e.weightOfRank(0)).toBeLessThan(e.weightOfRank(1000));
    expect(e.weightOfRank(300_000)).toBeGreaterThan(0.99);
  });

  it("looks words up by their UTF-8 bytes", () => {
    const index = new VocabIndex(new TextEncoder().encode("a\nbé\nc\na"));
    expect(index.size).toBe(4);
    expect(index.get("bé")).toBe(1);
    expect(index.get("a")).toBe(0); // the first, most frequent spelling wins
    expect(index.has("b")).toBe(false);
  });
});

// The real vectors: the first run builds the cache from the 307 MB package file (~7 s), later
// runs load it in ~0.1 s. The folder is shared with the benchmark and ignored by git.
describe("glove-sif provider on the real vectors", () => {
  const cacheDir = resolve(dirname(fileURLToPath(import.meta.url)), "../../../.tmp/models/glove-sif-100d");
  let provider: EmbeddingProvider;
  beforeAll(async () => {
    provider = await factory.createProvider({ cacheDir });
  }, 120_000);
  afterAll(() => provider.close());

  it("returns 100-d unit vectors with a stable model id", async () => {
    const vs = await provider.embed(
      ["We moved billing-service to Postgres.", "", "!!!", "zzqx-unknownword"],
      "passage",
    );
    expect(provider.modelId).toBe("glove-sif-100d");
    expect(provider.dims).toBe(100);
    for (const v of vs) {
      expect(v).toBeInstanceOf(Float32Array);
      expect(v.length).toBe(100);
      expect(norm(v)).toBeCloseTo(1, 5);
    }
  });

  it("is deterministic across calls and instances", async () => {
    const text = "Alice prefers squash merges for the ledger-api repo";
    const [a] = await provider.embed([text], "query");
    const other = await createProvider({ cacheDir });
    const [b] = await other.embed([text], "passage");
    await other.close();
    expect(Array.from(a)).toEqual(Array.from(b));
  });

  it("scores related sentences above unrelated ones", async () => {
    const [q, related, unrelated] = await provider.embed(
      [
        "Which database did the payments team switch to?",
        "Billing moved from MySQL to Postgres after the outage.",
        "Alice likes standups written in the channel.",
      ],
      "query",
    );
    expect(dot(q, related)).toBeGreaterThan(dot(q, unrelated));
    const [cat, kitten, invoice] = await provider.embed(
      ["The cat slept on the rug.", "A kitten napped on the carpet.", "Invoices are generated monthly."],
      "passage",
    );
    expect(dot(cat, kitten)).toBeGreaterThan(dot(cat, invoice) + 0.2);
  });

  it("matches an unknown identifier to itself", async () => {
    const [q, hit, miss] = await provider.embed(
      ["who owns zorblax-gateway", "zorblax-gateway is owned by infra", "frobnic-router is owned by infra"],
      "query",
    );
    expect(dot(q, hit)).toBeGreaterThan(dot(q, miss));
  });

  it("refuses to embed after close", async () => {
    const p = await createProvider({ cacheDir });
    await p.close();
    await expect(p.embed(["x"], "query")).rejects.toThrow(/closed/);
  });
});

describe("glove cache failures", () => {
  it("reports missing vectors as MODEL_FILE_MISSING", async () => {
    const dir = mkdtempSync(join(tmpdir(), "glove-missing-"));
    try {
      await expect(
        createProvider({ cacheDir: dir, sourcePath: join(dir, "nope.json") }),
      ).rejects.toMatchObject({ code: "MODEL_FILE_MISSING" });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("rebuilds a truncated cache instead of failing", () => {
    const dir = mkdtempSync(join(tmpdir(), "glove-trunc-"));
    try {
      const { path } = writeFixture(dir);
      const cacheDir = join(dir, "c");
      loadGloveTable({ cacheDir, sourcePath: path });
      writeFileSync(join(cacheDir, "glove-100d.v1.bin"), Buffer.alloc(20));
      expect(loadGloveTable({ cacheDir, sourcePath: path }).count).toBe(10);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("common component", () => {
  it("is estimated once and then read back from the cache folder", () => {
    const dir = mkdtempSync(join(tmpdir(), "glove-pc-"));
    try {
      const { path } = writeFixture(dir);
      const table = loadGloveTable({ cacheDir: join(dir, "c"), sourcePath: path });
      const first = new GloveSifEmbedder(table).embedOne("cat kitten");
      expect(existsSync(join(dir, "c", "glove-100d.v1.common-0.0003.f32"))).toBe(true);
      const again = new GloveSifEmbedder(table).embedOne("cat kitten");
      expect(Array.from(again)).toEqual(Array.from(first));
      expect(norm(first)).toBeCloseTo(1, 5);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
