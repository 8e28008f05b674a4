import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { DaemonConfig } from "@tribalmemory/shared/config/config";
import {
  installedFiles,
  MODEL_MANIFESTS,
  type ModelManifest,
  modelHubUrl,
  pullModel,
} from "@tribalmemory/shared/embed/model-hub";
import { chooseEmbedder } from "@tribalmemory/shared/embed/select-embedder";
import { TribalError } from "@tribalmemory/shared/errors";
import type { Command } from "commander";
import { z } from "zod";
import { daemonUrl } from "../client.ts";
import { ProgressBar } from "../progress.ts";
import { daemonHealth } from "../service/daemon-process.ts";
import { commandContext, print } from "./context.ts";

/** Where a hub model goes: bge into `embedding.model_dir` (where the daemon looks), others beside it. */
function modelDir(config: DaemonConfig, manifest: ModelManifest): string {
  return manifest.name === "bge-small-en-v1.5"
    ? config.embedding.modelDir
    : join(config.home, "models", manifest.name);
}

const ManifestFile = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9._-]{1,100}$/),
  repo: z.string().regex(/^[A-Za-z0-9._-]+\/[A-Za-z0-9._-]+$/),
  revision: z.string().regex(/^[A-Za-z0-9._-]{1,100}$/),
  dims: z.number().int().positive(),
  files: z
    .array(
      z.strictObject({
        path: z.string().regex(/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/),
        saveAs: z.string().regex(/^[A-Za-z0-9._-]+$/),
        bytes: z.number().int().nonnegative(),
        sha256: z.string().regex(/^[0-9a-f]{64}$/),
      }),
    )
    .min(1),
});

/** `--manifest`: another revision, a mirror's own layout or a private model, with its own pinned sums. */
function manifestFromFile(path: string, name: string): ModelManifest {
  let parsed: ReturnType<typeof ManifestFile.safeParse>;
  try {
    parsed = ManifestFile.safeParse(JSON.parse(readFileSync(path, "utf8")));
  } catch (err) {
    throw new TribalError("VALIDATION_FAILED", `--manifest ${path}: ${(err as Error).message}`);
  }
  if (!parsed.success) {
    throw new TribalError(
      "VALIDATION_FAILED",
      `--manifest ${path}: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
    );
  }
  if (parsed.data.name !== name) {
    throw new TribalError(
      "VALIDATION_FAILED",
      `--manifest ${path} describes ${parsed.data.name}, not ${name}.`,
    );
  }
  return parsed.data;
}

function manifestFor(name: string): ModelManifest {
  const manifest = MODEL_MANIFESTS[name];
  if (!manifest) {
    throw new TribalError(
      "VALIDATION_FAILED",
      `No model named ${name} to pull: the hub models are ${Object.keys(MODEL_MANIFESTS).join(", ")}. ` +
        "For a model served by Ollama, LM Studio, vLLM or OpenAI, set embedding.provider: openai instead.",
    );
  }
  return manifest;
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

/** `tribalmemory models pull|list`: the embedding models on this machine. */
export function registerModelsCommand(program: Command): void {
  const models = program.command("models").description("download and list embedding models");

  models
    .command("pull <name>")
    .description("download a model's weights and tokenizer (resumable, checked against pinned SHA-256 sums)")
    .option(
      "--hub <url>",
      "model hub base URL (default TRIBAL_MEMORY_MODEL_HUB, HF_ENDPOINT or https://huggingface.co)",
    )
    .option(
      "--dir <dir>",
      "where to put the files (default: the folder the daemon reads, embedding.model_dir)",
    )
    .option(
      "--manifest <file>",
      "a JSON manifest (name, repo, revision, dims; files with path, saveAs, bytes, sha256) instead of the built-in one",
    )
    .option("--json", "print the result as JSON")
    .action(async (name: string, opts: { hub?: string; dir?: string; manifest?: string; json?: boolean }) => {
      const { config } = commandContext(program);
      const manifest = opts.manifest ? manifestFromFile(opts.manifest, name) : manifestFor(name);
      const dir = opts.dir ?? modelDir(config, manifest);
      const hub = opts.hub ?? modelHubUrl();
      const total = manifest.files.reduce((n, f) => n + f.bytes, 0);
      const bar = new ProgressBar(`${name} (${mb(total)})`, total);
      let drawn = false;
      const result = await pullModel({
        manifest,
        dir,
        hub,
        token: process.env.HF_TOKEN || null,
        onProgress: (p) => {
          drawn = true;
          bar.update(p.done);
        },
      }).catch((err: unknown) => {
        // End the bar's line so the error starts on its own.
        if (drawn) process.stderr.write("\n");
        throw err;
      });
      bar.done();
      const seconds = result.ms / 1000;
      if (opts.json)
        return print({ ...result, hub, throughputBytesPerSecond: result.downloadedBytes / seconds });
      print(
        result.downloadedBytes
          ? `${name}: ${mb(result.downloadedBytes)} downloaded in ${seconds.toFixed(1)} s ` +
              `(${mb(result.downloadedBytes / Math.max(seconds, 0.001))}/s) into ${dir}; every file matches its pinned SHA-256.`
          : `${name}: already installed in ${dir}; every file matches its pinned SHA-256.`,
      );
      if (dir === config.embedding.modelDir) {
        print(
          config.embedding.provider === "auto" || config.embedding.provider === "bge-small-en-v1.5"
            ? "Restart the daemon to use it (tribalmemory daemon stop, then tribalmemory daemon start): memories are re-embedded in the background."
            : `embedding.provider is ${config.embedding.provider}: set it to auto (or ${name}) in ${config.configPath} to use this model.`,
        );
      }
    });

  models
    .command("list")
    .description("the models on this machine, and which one the daemon uses")
    .option("--verify", "also check each file's SHA-256 (reads every byte)")
    .option("--json", "print as JSON")
    .action(async (opts: { verify?: boolean; json?: boolean }) => {
      const { config, globals } = commandContext(program);
      const hubModels = await Promise.all(
        Object.values(MODEL_MANIFESTS).map(async (m) => {
          const dir = modelDir(config, m);
          const files = await installedFiles(m, dir, opts.verify === true);
          const status = files.every((f) => f.ok)
            ? "installed"
            : files.every((f) => f.present)
              ? "installed, not the pinned files (sizes differ)"
              : files.some((f) => f.present)
                ? "incomplete (run models pull again)"
                : "not installed";
          return { name: m.name, dims: m.dims, status, dir, source: `${m.repo}@${m.revision.slice(0, 7)}` };
        }),
      );
      const builtIn = [
        {
          name: "use-lite-512",
          dims: 512,
          status: "built in (npm package, offline)",
          dir: null,
          source: "npm",
        },
        {
          name: "glove-sif-100d",
          dims: 100,
          status: "built in (npm package, offline)",
          dir: null,
          source: "npm",
        },
        { name: "hashing-bow-384", dims: 384, status: "built in (tests)", dir: null, source: "code" },
      ];
      const choice = chooseEmbedder(config);
      const health = await daemonHealth(daemonUrl(config, globals.url), config.home);
      const running = (health?.embedding ?? null) as { status?: string; model?: string | null } | null;
      const active = {
        provider: config.embedding.provider,
        model: choice ? choice.describe : "none (keyword recall only)",
        hint: choice?.hint ?? null,
        daemon: running ? { status: running.status ?? null, model: running.model ?? null } : null,
      };
      if (opts.json) return print({ models: [...hubModels, ...builtIn], active });
      const rows = [...hubModels, ...builtIn];
      const width = Math.max(...rows.map((r) => r.name.length)) + 2;
      for (const r of rows) {
        const mark = choice && active.model.startsWith(r.name) ? "*" : " ";
        print(
          `${mark} ${r.name.padEnd(width)}${String(r.dims).padStart(4)}d  ${r.status}${r.dir ? `  ${r.dir}` : ""}`,
        );
      }
      if (config.embedding.provider === "openai") print(`* ${active.model}`);
      print(`\nactive (embedding.provider ${active.provider}): ${active.model}`);
      if (active.daemon)
        print(`running daemon: ${active.daemon.model ?? "no model"} (${active.daemon.status})`);
      if (active.hint) print(`hint: ${active.hint}`);
    });
}
