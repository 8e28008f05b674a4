/**
 * `tribalmemory models pull`: fetches a model's files from a Hugging Face–style hub
 * (`<hub>/<repo>/resolve/<revision>/<path>`) into the folder the daemon reads them from.
 *
 * Each file streams into `<name>.part`; a rerun after a cut connection asks for the rest with
 * `Range: bytes=<have>-` and appends (a server that ignores Range answers 200 and the file
 * starts over). Only a file whose SHA-256 equals the pinned one is renamed into place, so the
 * daemon never loads a truncated or substituted model; a mismatch deletes the `.part`.
 */
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { TribalError } from "../errors.ts";
import { BGE_SMALL_EN_V15 } from "./onnx-bert.ts";

export interface HubFile {
  /** Path inside the hub repository. */
  path: string;
  /** File name in the model folder. */
  saveAs: string;
  bytes: number;
  sha256: string;
}

export interface ModelManifest {
  name: string;
  /** `owner/name` on the hub. */
  repo: string;
  /** A commit id, so the pinned sums stay true when the repository moves on. */
  revision: string;
  dims: number;
  files: HubFile[];
}

/**
 * bge-small-en-v1.5 as Xenova's ONNX export lays it out (the int8 weights beside BAAI's
 * tokenizer files). Sums from ../shared/models/bge-small-en-v1.5 (SHA256SUMS, README).
 */
export const MODEL_MANIFESTS: Record<string, ModelManifest> = {
  [BGE_SMALL_EN_V15.modelId]: {
    name: BGE_SMALL_EN_V15.modelId,
    repo: "Xenova/bge-small-en-v1.5",
    revision: "ea104dacec62c0de699686887e3f920caeb4f3e3",
    dims: BGE_SMALL_EN_V15.dims,
    // What the tokenizer reads first, the weights last (the biggest, the one most likely resumed).
    files: [
      {
        path: "vocab.txt",
        saveAs: "vocab.txt",
        bytes: 231_508,
        sha256: "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
      },
      {
        path: "tokenizer_config.json",
        saveAs: "tokenizer_config.json",
        bytes: 366,
        sha256: "9261e7d79b44c8195c1cada2b453e55b00aeb81e907a6664974b4d7776172ab3",
      },
      {
        path: "special_tokens_map.json",
        saveAs: "special_tokens_map.json",
        bytes: 125,
        sha256: "b6d346be366a7d1d48332dbc9fdf3bf8960b5d879522b7799ddba59e76237ee3",
      },
      {
        path: "config.json",
        saveAs: "config.json",
        bytes: 683,
        sha256: "fa73f90bf92c8cace1fbcb709626306f2bdbc9ea3e5b5f94b440df9b6aa56350",
      },
      {
        path: "tokenizer.json",
        saveAs: "tokenizer.json",
        bytes: 711_396,
        sha256: "d241a60d5e8f04cc1b2b3e9ef7a4921b27bf526d9f6050ab90f9267a1f9e5c66",
      },
      {
        path: `onnx/${BGE_SMALL_EN_V15.fileName}`,
        saveAs: BGE_SMALL_EN_V15.fileName,
        bytes: BGE_SMALL_EN_V15.bytes,
        sha256: BGE_SMALL_EN_V15.sha256,
      },
    ],
  },
};

export const DEFAULT_MODEL_HUB = "https://huggingface.co";

/** TRIBAL_MEMORY_MODEL_HUB, else HF_ENDPOINT (huggingface_hub's name for a mirror), else huggingface.co. */
export function modelHubUrl(env: NodeJS.ProcessEnv = process.env): string {
  return (env.TRIBAL_MEMORY_MODEL_HUB || env.HF_ENDPOINT || DEFAULT_MODEL_HUB).replace(/\/+$/, "");
}

export function hubFileUrl(hub: string, manifest: ModelManifest, file: HubFile): string {
  return `${hub}/${manifest.repo}/resolve/${manifest.revision}/${file.path}`;
}

export interface PullProgress {
  file: string;
  /** Bytes of all files in place or downloaded so far (resumed bytes included). */
  done: number;
  total: number;
}

export interface PullOptions {
  manifest: ModelManifest;
  /** The model folder (the daemon's `embedding.model_dir`). */
  dir: string;
  hub?: string;
  /** Sent as `Authorization: Bearer` (HF_TOKEN) to mirrors that need it; never logged. */
  token?: string | null;
  onProgress?: (p: PullProgress) => void;
  /** A download with no bytes for this long is cut and retried. Default 30 s. */
  stallTimeoutMs?: number;
  /** Tries per file after a network failure (each resumes). Default 3. */
  attempts?: number;
}

export interface PullResult {
  dir: string;
  files: { name: string; bytes: number; status: "downloaded" | "resumed" | "present" }[];
  /** Bytes fetched over the network by this run. */
  downloadedBytes: number;
  ms: number;
}

async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

async function sizeOf(path: string): Promise<number | null> {
  try {
    return (await stat(path)).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
}

/** Whether each file of the manifest is in `dir` at its pinned size (`verify`: and sum). */
export async function installedFiles(
  manifest: ModelManifest,
  dir: string,
  verify = false,
): Promise<{ name: string; present: boolean; ok: boolean }[]> {
  return Promise.all(
    manifest.files.map(async (f) => {
      const path = join(dir, f.saveAs);
      const size = await sizeOf(path);
      const ok = size === f.bytes && (!verify || (await sha256OfFile(path)) === f.sha256);
      return { name: f.saveAs, present: size !== null, ok };
    }),
  );
}

/** A failure worth another try from where the `.part` stopped. */
class NetworkFailure extends Error {}

/** Downloads every file of `manifest` missing from `dir`, resuming `.part` files, checking sums. */
export async function pullModel(options: PullOptions): Promise<PullResult> {
  const started = Date.now();
  const hub = (options.hub ?? modelHubUrl()).replace(/\/+$/, "");
  const total = options.manifest.files.reduce((n, f) => n + f.bytes, 0);
  await mkdir(options.dir, { recursive: true });
  const result: PullResult = { dir: options.dir, files: [], downloadedBytes: 0, ms: 0 };
  let doneBefore = 0;
  for (const file of options.manifest.files) {
    const target = join(options.dir, file.saveAs);
    if ((await sizeOf(target)) === file.bytes && (await sha256OfFile(target)) === file.sha256) {
      result.files.push({ name: file.saveAs, bytes: file.bytes, status: "present" });
    } else {
      const resumedFrom = await downloadFile(hub, options, file, target, (have) =>
        options.onProgress?.({ file: file.saveAs, done: doneBefore + have, total }),
      );
      result.downloadedBytes += file.bytes - resumedFrom;
      result.files.push({
        name: file.saveAs,
        bytes: file.bytes,
        status: resumedFrom > 0 ? "resumed" : "downloaded",
      });
    }
    doneBefore += file.bytes;
    options.onProgress?.({ file: file.saveAs, done: doneBefore, total });
  }
  result.ms = Date.now() - started;
  return result;
}

/** One file into `target` via `target.part`; returns the bytes that were already there. */
async function downloadFile(
  hub: string,
  options: PullOptions,
  file: HubFile,
  target: string,
  onBytes: (have: number) => void,
): Promise<number> {
  const part = `${target}.part`;
  const url = hubFileUrl(hub, options.manifest, file);
  let have = (await sizeOf(part)) ?? 0;
  if (have > file.bytes) {
    await rm(part, { force: true });
    have = 0;
  }
  const resumedFrom = have;
  const attempts = options.attempts ?? 3;
  for (let attempt = 1; have < file.bytes; attempt++) {
    try {
      const before = have;
      have = await fetchInto(url, part, have, options, onBytes);
      // A clean answer that added nothing (a short file on the server): the sum decides.
      if (have === before) break;
    } catch (err) {
      if (!(err instanceof NetworkFailure)) throw err;
      have = (await sizeOf(part)) ?? 0;
      if (attempt >= attempts) {
        throw new TribalError(
          "MODEL_HUB_UNREACHABLE",
          `Could not download ${file.path} from ${hub}: ${err.message}. Check the connection (or set ` +
            `TRIBAL_MEMORY_MODEL_HUB or HF_ENDPOINT to a mirror) and run the command again: it resumes from ` +
            `${have} of ${file.bytes} bytes.`,
          { url, have, bytes: file.bytes },
        );
      }
      await new Promise((r) => setTimeout(r, 250 * 2 ** (attempt - 1)));
    }
  }
  const actual = await sha256OfFile(part);
  if (actual !== file.sha256) {
    await rm(part, { force: true });
    throw new TribalError(
      "MODEL_CHECKSUM_MISMATCH",
      `${file.path} from ${hub} has sha256 ${actual}, expected ${file.sha256}: a corrupt download or a ` +
        "different file. It was deleted and nothing was installed; run the command again, and if it repeats, " +
        "the hub or mirror serves another file than the pinned one.",
      { url, expectedSha256: file.sha256, actualSha256: actual },
    );
  }
  await rename(part, target);
  return resumedFrom;
}

/** One GET from `have` on, appended to `part`; returns the new size. */
async function fetchInto(
  url: string,
  part: string,
  have: number,
  options: PullOptions,
  onBytes: (have: number) => void,
): Promise<number> {
  const stallMs = options.stallTimeoutMs ?? 30_000;
  const abort = new AbortController();
  let stallTimer = setTimeout(() => abort.abort(), stallMs);
  const headers: Record<string, string> = {};
  if (have > 0) headers.range = `bytes=${have}-`;
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let res: Response;
  try {
    res = await fetch(url, { headers, signal: abort.signal, redirect: "follow" });
  } catch (err) {
    clearTimeout(stallTimer);
    throw new NetworkFailure(describeNetworkError(err, stallMs));
  }
  if (res.status === 416 && have > 0) {
    // The .part is already whole (or the server disagrees about its size): let the sum decide.
    clearTimeout(stallTimer);
    await res.body?.cancel();
    return Number.MAX_SAFE_INTEGER;
  }
  if (res.status !== 200 && res.status !== 206) {
    clearTimeout(stallTimer);
    await res.body?.cancel();
    if (res.status === 404) {
      throw new TribalError(
        "MODEL_HUB_NOT_FOUND",
        `${url} answered 404: the hub has no such file. Check TRIBAL_MEMORY_MODEL_HUB / HF_ENDPOINT ` +
          "(a mirror must keep Hugging Face's /<repo>/resolve/<revision>/<file> layout).",
        { url, status: 404 },
      );
    }
    if (res.status === 429 || res.status >= 500) throw new NetworkFailure(`HTTP ${res.status}`);
    throw new TribalError(
      "MODEL_HUB_REFUSED",
      `${url} answered HTTP ${res.status}.` +
        (res.status === 401 || res.status === 403 ? " Set HF_TOKEN if the mirror needs a token." : ""),
      { url, status: res.status },
    );
  }
  // 200 to a Range request: the server sends the whole file, so start the .part over.
  const append = res.status === 206 && have > 0;
  let size = append ? have : 0;
  const out = createWriteStream(part, { flags: append ? "a" : "w" });
  try {
    if (!res.body) throw new NetworkFailure("empty response body");
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      clearTimeout(stallTimer);
      stallTimer = setTimeout(() => abort.abort(), stallMs);
      if (!out.write(chunk)) await new Promise<void>((r) => out.once("drain", () => r()));
      size += chunk.byteLength;
      onBytes(size);
    }
  } catch (err) {
    if (err instanceof NetworkFailure) throw err;
    throw new NetworkFailure(describeNetworkError(err, stallMs));
  } finally {
    clearTimeout(stallTimer);
    await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
  }
  return size;
}

function describeNetworkError(err: unknown, stallMs: number): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  if (e.name === "AbortError") return `no data for ${Math.round(stallMs / 1000)} s`;
  return e.cause?.code ?? e.cause?.message ?? e.message;
}
