import { copyFileSync, existsSync, mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TribalError } from "../errors.ts";
import { ensureGeneratedBertModel } from "./generated-bert-model.ts";
import {
  createOnnxBertProvider,
  createProvider,
  type OnnxBertProvider,
  planSubBatches,
  verifyModelFile,
} from "./onnx-bert.ts";

let model: { path: string; sha256: string };
let provider: OnnxBertProvider;
const scratch = mkdtempSync(join(tmpdir(), "tm-onnx-bert-"));

beforeAll(async () => {
  model = await ensureGeneratedBertModel("tiny");
  provider = await createOnnxBertProvider({
    modelPath: model.path,
    expectedSha256: model.sha256,
    modelId: "bert-tiny-random",
  });
}, 60_000);

afterAll(async () => {
  await provider?.close();
  rmSync(scratch, { recursive: true, force: true });
});

const norm = (v: Float32Array) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
const maxDiff = (a: Float32Array, b: Float32Array) =>
  a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);

async function rejection(promise: Promise<unknown>): Promise<TribalError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(TribalError);
    return err as TribalError;
  }
  throw new Error("expected a rejection");
}

describe("ONNX BERT provider (generated tiny model)", () => {
  it("gives 384-dimensional unit vectors, deterministically", async () => {
    expect(provider.dims).toBe(384);
    expect(provider.modelId).toBe("bert-tiny-random");
    const [a, b] = await provider.embed(
      ["remember the deploy key rotation", "something else entirely"],
      "passage",
    );
    expect(a).toHaveLength(384);
    expect(norm(a)).toBeCloseTo(1, 5);
    expect(norm(b)).toBeCloseTo(1, 5);
    const [again] = await provider.embed(["remember the deploy key rotation"], "passage");
    expect(maxDiff(a, again)).toBeLessThan(1e-5);
    expect(maxDiff(a, b)).toBeGreaterThan(1e-3);
  });

  it("pads each batch only to its longest text without changing any vector (mask honoured)", async () => {
    const short = "short note";
    const long = "a much longer passage about release checklists, ".repeat(20);
    const [alone] = await provider.embed([short], "passage");
    const runsBefore = provider.runs;
    const [inBatch, longVector] = await provider.embed([short, long], "passage");
    expect(provider.runs - runsBefore).toBe(1); // both really were in one padded run
    expect(maxDiff(alone, inBatch)).toBeLessThan(1e-4);
    const [longAlone] = await provider.embed([long], "passage");
    expect(maxDiff(longAlone, longVector)).toBeLessThan(1e-4);
  });

  it("returns vectors in input order after sorting a large batch into sub-batches", async () => {
    const texts = Array.from({ length: 70 }, (_, i) => `note ${i} ${"detail ".repeat(i % 13)}`);
    const runsBefore = provider.runs;
    const batch = await provider.embed(texts, "passage");
    expect(provider.runs - runsBefore).toBeGreaterThanOrEqual(3); // 70 texts, at most 32 per run
    for (const i of [0, 13, 41, 69]) {
      const [alone] = await provider.embed([texts[i]], "passage");
      expect(maxDiff(alone, batch[i])).toBeLessThan(1e-4);
    }
  });

  it("plans sub-batches within the text and padded-token limits", () => {
    const lengths = [5, 500, 7, 12, 480, 3];
    const plan = planSubBatches(lengths, 2, 900);
    expect(plan.flat().sort()).toEqual([0, 1, 2, 3, 4, 5]);
    for (const batch of plan) {
      expect(batch.length).toBeLessThanOrEqual(2);
      expect(batch.length * Math.max(...batch.map((i) => lengths[i]))).toBeLessThanOrEqual(900);
    }
    // Longest first; 500 and 480 together would pad to 1000 tokens, over the budget.
    expect(plan).toEqual([[1], [4], [3, 2], [0, 5]]);
  });

  it("prefixes queries with bge's instruction and passages with nothing, unless turned off", async () => {
    const text = "how do we rotate the deploy key";
    const [query] = await provider.embed([text], "query");
    const [passage] = await provider.embed([text], "passage");
    expect(maxDiff(query, passage)).toBeGreaterThan(1e-3);
    const [prefixed] = await provider.embed(
      [`Represent this sentence for searching relevant passages: ${text}`],
      "passage",
    );
    expect(maxDiff(query, prefixed)).toBeLessThan(1e-5);

    const plain = await createOnnxBertProvider({
      modelPath: model.path,
      expectedSha256: model.sha256,
      queryPrefix: null,
    });
    try {
      const [q] = await plain.embed([text], "query");
      expect(maxDiff(q, passage)).toBeLessThan(1e-5);
    } finally {
      await plain.close();
    }
  });

  it("returns nothing for no texts", async () => {
    expect(await provider.embed([], "passage")).toEqual([]);
  });
});

describe("ONNX BERT provider (generated int8 dynamically-quantized model)", () => {
  it("runs the DynamicQuantizeLinear + MatMulInteger form and stays close to the float model", async () => {
    const int8 = await ensureGeneratedBertModel("tiny-int8");
    expect(statSync(int8.path).size).toBeLessThan(statSync(model.path).size / 3);
    const quantized = await createOnnxBertProvider({ modelPath: int8.path, expectedSha256: int8.sha256 });
    try {
      expect(quantized.dims).toBe(384);
      const texts = [
        "remember the deploy key rotation",
        "the release checklist for postgres and sqlite",
        "short",
        "latency budget of the recall query passage tokenizer model ".repeat(4),
        "how do we rotate the deploy key",
        "workspace sync through the relay",
      ];
      const floats = await provider.embed(texts, "passage");
      const ints = await quantized.embed(texts, "passage");
      // Random-weight CLS vectors share a large common part, so compare them around their mean too.
      const mean = new Float32Array(384);
      for (const v of floats) for (let j = 0; j < 384; j++) mean[j] += v[j] / floats.length;
      const centred = (v: Float32Array) => {
        const c = v.map((x, j) => x - mean[j]);
        return c.map((x) => x / norm(c));
      };
      const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, x, j) => s + x * b[j], 0);
      for (let i = 0; i < texts.length; i++) {
        expect(norm(ints[i])).toBeCloseTo(1, 5);
        expect(dot(floats[i], ints[i])).toBeGreaterThan(0.99);
        expect(dot(centred(floats[i]), centred(ints[i]))).toBeGreaterThan(0.8);
      }
      // Activation scales are per run (the whole padded batch), so batching moves a vector a little.
      const [alone] = await quantized.embed([texts[0]], "passage");
      expect(dot(alone, ints[0])).toBeGreaterThan(0.999);
    } finally {
      await quantized.close();
    }
  }, 30_000);
});

describe("model file checks", () => {
  it("rejects a missing model file with MODEL_FILE_MISSING naming the path", async () => {
    const missing = join(scratch, "nope", "model_quantized.onnx");
    const err = await rejection(createOnnxBertProvider({ modelPath: missing }));
    expect(err.code).toBe("MODEL_FILE_MISSING");
    expect(err.message).toContain(missing);
    expect(err.details).toMatchObject({ path: missing });
  });

  it("rejects a file with another sha256 with MODEL_CHECKSUM_MISMATCH naming both sums", async () => {
    const wrong = "0".repeat(64);
    const err = await rejection(createOnnxBertProvider({ modelPath: model.path, expectedSha256: wrong }));
    expect(err.code).toBe("MODEL_CHECKSUM_MISMATCH");
    expect(err.message).toContain(wrong);
    expect(err.message).toContain(model.sha256);
  });

  it("checks the pinned bge sum by default", async () => {
    const err = await rejection(createOnnxBertProvider({ modelPath: model.path }));
    expect(err.code).toBe("MODEL_CHECKSUM_MISMATCH");
    expect(err.details).toMatchObject({
      expectedSha256: "6c9c6101a956d62dfb5e7190c538226c0c5bb9cb27b651234b6df063ee7dbfe4",
    });
  });

  it("remembers a verified file by size and mtime, and rehashes a changed one", async () => {
    const file = join(scratch, "small.onnx");
    writeFileSync(file, "not really a model");
    const sum = "8f1ff1a5c6b0d30d0a8ba9d2a1ba0d46d2ddbcb5b48ec88e1ff62c1e5b0a6b7c";
    const actual = (await rejection(verifyModelFile(file, sum))).details?.actualSha256 as string;
    expect(existsSync(`${file}.sha256-verified`)).toBe(false); // a mismatch is never remembered

    expect(await verifyModelFile(file, actual)).toMatchObject({ cached: false, sha256: actual });
    expect(await verifyModelFile(file, actual)).toMatchObject({ cached: true, sha256: actual });

    writeFileSync(file, "another file now");
    const later = new Date(statSync(file).mtimeMs + 5000);
    utimesSync(file, later, later);
    const err = await rejection(verifyModelFile(file, actual));
    expect(err.code).toBe("MODEL_CHECKSUM_MISMATCH");
  });

  it("reports a missing tokenizer vocabulary as MODEL_FILE_MISSING", async () => {
    const copy = join(scratch, "model.onnx");
    copyFileSync(model.path, copy);
    const err = await rejection(
      createOnnxBertProvider({
        modelPath: copy,
        expectedSha256: model.sha256,
        tokenizerDir: join(scratch, "no-tokenizer"),
      }),
    );
    expect(err.code).toBe("MODEL_FILE_MISSING");
    expect(err.message).toContain("vocab.txt");
  });

  it("validates JSON options at the factory boundary", async () => {
    const err = await rejection(createProvider({ modelPath: 42 }));
    expect(err.code).toBe("VALIDATION_FAILED");
  });
});
