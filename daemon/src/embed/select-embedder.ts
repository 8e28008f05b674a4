import { existsSync } from "node:fs";
import { join } from "node:path";
import type { DaemonConfig } from "@tribalmemory/shared/config/config";
import { createHashingProvider } from "@tribalmemory/shared/embed/hashing";
import { BGE_SMALL_EN_V15 } from "@tribalmemory/shared/embed/onnx-bert";
import { createWorkerEmbedder } from "@tribalmemory/shared/embed/worker-host";
import type { EmbedderInfo } from "@tribalmemory/shared/service/memory-service";

/**
 * Which embedder the daemon runs. Cosine levels differ by model, so each carries its own
 * calibration; a weak model gets a lower weight in fusion and no semantic dedup (two
 * different facts can average to nearly the same GloVe vector).
 */
export const CALIBRATIONS = {
  bge: { calibration: { floor: 0.45, ceiling: 0.9, weight: 1 }, dedupCosine: 0.97 },
  use: { calibration: { floor: 0.35, ceiling: 0.8, weight: 0.5 }, dedupCosine: null },
  glove: { calibration: { floor: 0.35, ceiling: 0.95, weight: 0.5 }, dedupCosine: null },
  hashing: { calibration: { floor: 0.1, ceiling: 0.9, weight: 0.3 }, dedupCosine: null },
} as const;

export interface EmbedderChoice {
  kind: "bge" | "glove" | "hashing";
  describe: string;
  load: () => Promise<EmbedderInfo>;
}

export function chooseEmbedder(config: DaemonConfig): EmbedderChoice | null {
  const provider = config.embedding.provider;
  if (provider === "none") return null;
  const bgePath = join(config.embedding.modelDir, BGE_SMALL_EN_V15.fileName);
  if (provider === "bge-small-en-v1.5" || (provider === "auto" && existsSync(bgePath))) {
    return {
      kind: "bge",
      describe: `bge-small-en-v1.5 (${bgePath})`,
      load: async () => ({
        provider: await createWorkerEmbedder({
          moduleUrl: import.meta.resolve("@tribalmemory/shared/embed/onnx-bert"),
          options: {
            modelPath: bgePath,
            expectedSha256: config.embedding.modelSha256 ?? BGE_SMALL_EN_V15.sha256,
            threads: config.embedding.threads,
          },
        }),
        ...CALIBRATIONS.bge,
      }),
    };
  }
  if (provider === "hashing") {
    return {
      kind: "hashing",
      describe: "hashing-bow-384",
      load: async () => ({ provider: createHashingProvider(), ...CALIBRATIONS.hashing }),
    };
  }
  return {
    kind: "glove",
    describe: "glove-sif-100d (offline, from npm)",
    load: async () => ({
      provider: await createWorkerEmbedder({
        moduleUrl: import.meta.resolve("@tribalmemory/shared/embed/glove-sif"),
        options: { cacheDir: join(config.home, "models", "glove-sif-100d") },
      }),
      ...CALIBRATIONS.glove,
    }),
  };
}
