import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EmbeddingProvider, EmbeddingProviderFactory } from "./provider.ts";
import * as useLite from "./use-lite.ts";

// Compile-time: the module has the shape a worker thread loads.
const factory: EmbeddingProviderFactory = useLite;

const dot = (a: Float32Array, b: Float32Array): number => a.reduce((s, x, i) => s + x * b[i], 0);

describe("use-lite provider", () => {
  let provider: EmbeddingProvider;
  beforeAll(async () => {
    provider = await factory.createProvider({});
  }, 60_000);
  afterAll(() => provider.close());

  it("returns 512-d unit vectors with a stable model id, offline", async () => {
    const vs = await provider.embed(["We moved billing-service to Postgres.", "", "   ", "ok"], "passage");
    expect(provider.modelId).toBe("use-lite-512");
    expect(provider.dims).toBe(512);
    expect(vs).toHaveLength(4);
    for (const v of vs) {
      expect(v).toBeInstanceOf(Float32Array);
      expect(v.length).toBe(512);
      expect(Math.sqrt(dot(v, v))).toBeCloseTo(1, 4);
    }
  });

  it("gives the same vector for the same text, alone, batched or concurrent", async () => {
    const text = "Alice prefers squash merges for the ledger-api repo";
    const [alone] = await provider.embed([text], "query");
    const batched = await provider.embed(["something else first", text], "passage");
    const [[c1], [c2]] = await Promise.all([
      provider.embed([text], "query"),
      provider.embed([text], "query"),
    ]);
    for (const v of [batched[1], c1, c2]) expect(dot(alone, v)).toBeGreaterThan(0.9999);
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
});
