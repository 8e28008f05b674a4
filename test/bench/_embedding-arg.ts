/**
 * The embedder a quality bench runs, chosen as the daemon chooses it (select-embedder.ts), so a
 * real model a user has (bge-small-en-v1.5's weights, an OpenAI-compatible embedding server) is
 * measured by the same harness as the offline default:
 *
 *   --embedding NAME   a provider name the daemon takes (auto, offline, glove, hashing,
 *                      bge-small-en-v1.5, openai, none)
 *   --model-dir DIR    where bge-small-en-v1.5's files are (default: the daemon's, under
 *                      TRIBAL_MEMORY_HOME or ~/.tribal-memory)
 *   --config FILE      a daemon config file: only its `embedding` section is read (provider,
 *                      model_dir, model_sha256, base_url, model, dimensions, prefixes, …)
 *
 * and the daemon's TRIBAL_MEMORY_EMBEDDING* variables (an endpoint's URL, model and key). The
 * rest of a config file (data folder, sync, port) never reaches the bench's daemon.
 */
import { join, resolve } from "node:path";
import {
  type DaemonConfig,
  EMBEDDING_PROVIDER_NAMES,
  type EmbeddingProviderName,
  loadDaemonConfig,
  tribalHome,
} from "@tribalmemory/shared/config/config";
import { chooseEmbedder } from "@tribalmemory/shared/embed/select-embedder";
import type { EmbedderInfo } from "@tribalmemory/shared/service/memory-service";

export type EmbeddingConfig = DaemonConfig["embedding"];

/** True when the arguments name an embedder this way (so a bench's own default does not apply). */
export function asksForEmbedding(args: string[]): boolean {
  return ["--embedding", "--model-dir", "--config"].some((a) => args.includes(a));
}

/**
 * The embedding section these arguments give. `scratch`: a folder of the bench's own that
 * holds no config file, so without `--config` no user's file is read.
 */
export function benchEmbedding(args: string[], scratch: string): EmbeddingConfig {
  const arg = (name: string): string | undefined => {
    const i = args.indexOf(name);
    if (i < 0) return undefined;
    const value = args[i + 1];
    if (value === undefined || value.startsWith("--")) throw new Error(`${name} needs a value`);
    return value;
  };
  const name = arg("--embedding");
  if (name !== undefined && !(EMBEDDING_PROVIDER_NAMES as readonly string[]).includes(name))
    throw new Error(
      `--embedding ${name} is not a provider: use one of ${EMBEDDING_PROVIDER_NAMES.join(", ")}`,
    );
  const env: NodeJS.ProcessEnv = { TRIBAL_MEMORY_HOME: tribalHome(process.env) };
  for (const [k, v] of Object.entries(process.env))
    if (k.startsWith("TRIBAL_MEMORY_EMBEDDING") || k === "OPENAI_API_KEY") env[k] = v;
  const config = loadDaemonConfig(
    {
      configPath: arg("--config") ?? join(scratch, "no-config.yaml"),
      ...(name ? { embedding: name as EmbeddingProviderName } : {}),
    },
    env,
  );
  const modelDir = arg("--model-dir");
  return modelDir ? { ...config.embedding, modelDir: resolve(modelDir) } : config.embedding;
}

/**
 * Loads the embedder `embedding` chooses (null for `none`), as the daemon would, but fails at
 * once with the loader's own message (a missing weights file, an unreachable endpoint).
 */
export async function loadBenchEmbedder(
  embedding: EmbeddingConfig,
  scratch: string,
): Promise<{ kind: string; describe: string; info: EmbedderInfo } | null> {
  const base = loadDaemonConfig(
    { configPath: join(scratch, "no-config.yaml") },
    { TRIBAL_MEMORY_HOME: scratch },
  );
  const choice = chooseEmbedder({ ...base, embedding });
  return choice && { kind: choice.kind, describe: choice.describe, info: await choice.load() };
}
