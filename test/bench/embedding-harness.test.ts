/**
 * The recall-quality harnesses run with a real model where one is configured (issue 12, item 4):
 * `pnpm bench locomo` and `pnpm bench recall-quality` as processes, with bge-small-en-v1.5's
 * ONNX path (a generated model of its contract, named by a config file) and with an
 * OpenAI-compatible embedding server on loopback (named by the daemon's environment variables).
 */
import { spawn } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureGeneratedBertModel } from "@tribalmemory/shared/embed/generated-bert-model";
import { BGE_SMALL_EN_V15 } from "@tribalmemory/shared/embed/onnx-bert";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type OpenAiCompatibleServer,
  startOpenAiCompatibleServer,
} from "../embed/openai-compatible-server.ts";

const BENCH = fileURLToPath(new URL("./main.ts", import.meta.url));

/** One conversation of two sessions, LoCoMo's shape: the answer turns are the evidence. */
const DATASET = [
  {
    sample_id: "conv-t",
    conversation: {
      speaker_a: "Ana",
      speaker_b: "Ben",
      session_1_date_time: "1:56 pm on 8 May, 2023",
      session_1: [
        { speaker: "Ana", dia_id: "D1:1", text: "I adopted a grey kitten named Pixel last weekend." },
        {
          speaker: "Ben",
          dia_id: "D1:2",
          text: "Lovely! I started pottery classes at the community studio.",
        },
        { speaker: "Ana", dia_id: "D1:3", text: "My sister lives in Lisbon and teaches violin." },
      ],
      session_2_date_time: "10:00 am on 20 June, 2023",
      session_2: [
        { speaker: "Ben", dia_id: "D2:1", text: "I finished my first pottery bowl, a blue glazed one." },
        { speaker: "Ana", dia_id: "D2:2", text: "Pixel learned to open the kitchen cupboard." },
        { speaker: "Ben", dia_id: "D2:3", text: "We are hiking the coastal trail in August." },
      ],
    },
    qa: [
      { question: "What is the name of Ana's kitten?", evidence: ["D1:1"], category: 4 },
      { question: "What did Ben make in his pottery classes?", evidence: ["D1:2", "D2:1"], category: 1 },
      { question: "Where does Ana's sister live?", evidence: ["D1:3"], category: 4 },
    ],
  },
];

let dir: string;
let server: OpenAiCompatibleServer;
let datasetPath: string;
let configPath: string;
let modelDir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "tm-bench-models-"));
  datasetPath = join(dir, "locomo-tiny.json");
  writeFileSync(datasetPath, JSON.stringify(DATASET));
  // Weights of bge-small-en-v1.5's contract in a folder of their own, pinned by the config file.
  const generated = await ensureGeneratedBertModel("tiny");
  modelDir = join(dir, "bge");
  mkdirSync(modelDir);
  copyFileSync(generated.path, join(modelDir, BGE_SMALL_EN_V15.fileName));
  configPath = join(dir, "config.yaml");
  writeFileSync(
    configPath,
    [
      "embedding:",
      "  provider: bge-small-en-v1.5",
      `  model_dir: ${modelDir}`,
      `  model_sha256: ${generated.sha256}`,
      // The rest of a config file never reaches the bench's daemon: not its data, not its sync.
      `data_dir: ${join(dir, "must-not-exist")}`,
      "sync:",
      "  enabled: true",
      "  cloud_url: wss://127.0.0.1:9/never",
      "",
    ].join("\n"),
  );
  server = await startOpenAiCompatibleServer({ models: { "bow-64": 64 }, apiKey: "sk-bench" });
}, 180_000);

afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** `pnpm bench NAME ARGS` in its own working folder (reports land under it), home and env. */
function bench(
  name: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string; cwd: string }> {
  const cwd = mkdtempSync(join(dir, `${name}-`));
  const home = join(cwd, "home");
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith("TRIBAL_MEMORY_") && k !== "OPENAI_API_KEY"),
  );
  const child = spawn(process.execPath, [BENCH, name, ...args], {
    cwd,
    env: { ...clean, TRIBAL_MEMORY_HOME: home, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => {
    stdout += d;
  });
  child.stderr.on("data", (d) => {
    stderr += d;
  });
  return new Promise((resolve) => child.on("close", (code) => resolve({ code, stdout, stderr, cwd })));
}

const report = (cwd: string, name: string) =>
  JSON.parse(readFileSync(join(cwd, "bench-results", `${name}.json`), "utf8"));

const serverEnv = () => ({
  TRIBAL_MEMORY_EMBEDDING_BASE_URL: server.baseUrl,
  TRIBAL_MEMORY_EMBEDDING_MODEL: "bow-64",
  TRIBAL_MEMORY_EMBEDDING_API_KEY: "sk-bench",
});

describe("pnpm bench locomo with a configured model", () => {
  it("measures with the bge weights a config file names, and writes the model's own report", async () => {
    const run = await bench("locomo", ["--dataset", datasetPath, "--config", configPath]);
    expect(run.stderr).not.toMatch(/Error/);
    expect(run.code).toBe(0);
    const out = report(run.cwd, "locomo-bge-small-en-v1.5");
    expect(out.embedding).toBe(`bge-small-en-v1.5 (${join(modelDir, BGE_SMALL_EN_V15.fileName)})`);
    expect(out.imported).toBe(6);
    expect(out.full_pipeline.overall.n).toBe(3);
    expect(out.full_pipeline.overall["recall@10"]).toBeGreaterThan(0);
    // USE-lite's report (the README's figures) is not overwritten by another model's run.
    expect(existsSync(join(run.cwd, "bench-results", "locomo.json"))).toBe(false);
    expect(existsSync(join(dir, "must-not-exist"))).toBe(false);
  });

  it("measures through an OpenAI-compatible server named by the daemon's environment", async () => {
    const before = server.calls.length;
    const run = await bench("locomo", ["--dataset", datasetPath, "--embedding", "openai"], serverEnv());
    expect(run.code).toBe(0);
    const out = report(run.cwd, "locomo-bow-64");
    expect(out.embedding).toBe(`bow-64 via ${server.baseUrl} (OpenAI-compatible)`);
    const sent = server.calls.slice(before).flatMap((c) => c.inputs);
    expect(sent).toContain("Ana: I adopted a grey kitten named Pixel last weekend.");
    expect(sent).toContain("What is the name of Ana's kitten?");
    expect(server.calls.slice(before).every((c) => c.authorization === "Bearer sk-bench")).toBe(true);
  });

  it("fails, saying why, when the model asked for does not load (not a keyword-only run under its name)", async () => {
    const empty = join(dir, "no-weights");
    mkdirSync(empty);
    const run = await bench("locomo", [
      "--dataset",
      datasetPath,
      "--embedding",
      "bge-small-en-v1.5",
      "--model-dir",
      empty,
    ]);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain(
      `bge-small-en-v1.5 weights not found at ${join(empty, BGE_SMALL_EN_V15.fileName)}`,
    );
    expect(existsSync(join(run.cwd, "bench-results"))).toBe(false);
  });
});

describe("pnpm bench recall-quality with a configured model", () => {
  it("runs the generated set through an OpenAI-compatible server, with that model's calibration", async () => {
    const before = server.calls.length;
    const run = await bench("recall-quality", ["--embedding", "openai", "--no-ablations"], serverEnv());
    expect(run.stderr).not.toMatch(/Error/);
    expect(run.code).toBe(0);
    const out = report(run.cwd, "recall-quality-bow-64");
    expect(out.embedder).toBe("bow-64");
    expect(out.calibration).toEqual({ floor: 0.15, ceiling: 0.85, weight: 0.7 });
    const full = out.variants.find((v: { name: string }) => v.name === "full pipeline");
    expect(full.metrics.overall["recall@5"]).toBeGreaterThan(0);
    const sent = server.calls.slice(before).reduce((n, c) => n + c.inputs.length, 0);
    expect(sent).toBeGreaterThanOrEqual(out.dataset.memories + out.dataset.queries);
    expect(existsSync(join(run.cwd, "bench-results", "recall-quality.json"))).toBe(false);
  }, 300_000);
});
