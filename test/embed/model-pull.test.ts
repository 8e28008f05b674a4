/**
 * `models pull` against a loopback server with Hugging Face's layout
 * (`/<repo>/resolve/<revision>/<path>`, the weights behind a redirect as the hub's LFS files
 * are, Range answered with 206), serving a generated bge-shaped model with its checksum.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { startDaemon } from "@tribalmemory/daemon/daemon";
import { loadDaemonConfig } from "@tribalmemory/shared/config/config";
import { readLocalToken } from "@tribalmemory/shared/config/local-token";
import { ensureGeneratedBertModel } from "@tribalmemory/shared/embed/generated-bert-model";
import { MODEL_MANIFESTS, type ModelManifest, pullModel } from "@tribalmemory/shared/embed/model-hub";
import { chooseEmbedder } from "@tribalmemory/shared/embed/select-embedder";
import { TribalError } from "@tribalmemory/shared/errors";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiClient, CLI_DIR, tempHome } from "../helpers/daemon.ts";

const TOKENIZER_DIR = fileURLToPath(new URL("../../shared/models/bge-small-en-v1.5/", import.meta.url));
const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

interface HubRequest {
  path: string;
  range: string | null;
}

/** Files by URL path; `cutOnce`: the first GET of that path stops after so many bytes. */
function startHub(files: Map<string, Buffer>) {
  const requests: HubRequest[] = [];
  const cutOnce = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://hub");
    // The hub answers LFS files with a redirect to its CDN; fetch must keep the Range header.
    if (url.pathname.endsWith(".onnx") && !url.pathname.startsWith("/cdn/")) {
      res.writeHead(302, { location: `/cdn${url.pathname}` });
      return res.end();
    }
    const path = url.pathname.replace(/^\/cdn/, "");
    requests.push({ path, range: req.headers.range ?? null });
    const body = files.get(path);
    if (!body) {
      res.writeHead(404, { "content-type": "text/plain" });
      return res.end("Entry not found");
    }
    const from = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? "")?.[1] ?? 0);
    if (from >= body.length && from > 0) {
      res.writeHead(416, { "content-range": `bytes */${body.length}` });
      return res.end();
    }
    const slice = body.subarray(from);
    res.writeHead(from > 0 ? 206 : 200, {
      "content-length": String(slice.length),
      "accept-ranges": "bytes",
      ...(from > 0 ? { "content-range": `bytes ${from}-${body.length - 1}/${body.length}` } : {}),
    });
    const cut = cutOnce.get(path);
    if (cut !== undefined) {
      cutOnce.delete(path);
      res.write(slice.subarray(0, cut), () => res.socket?.destroy());
      return;
    }
    res.end(slice);
  });
  return {
    requests,
    cutOnce,
    async listen(): Promise<string> {
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function failure(p: Promise<unknown>): Promise<TribalError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof TribalError) return err;
    throw err;
  }
  throw new Error("expected a TribalError");
}

async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

/** `tribalmemory …` as a real process against the loopback hub. */
function runCli(home: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return promisify(execFile)(process.execPath, [join(CLI_DIR, "tribalmemory.ts"), ...args], {
    env: { ...process.env, TRIBAL_MEMORY_HOME: home, TRIBAL_MEMORY_MODEL_HUB: hubUrl, HF_ENDPOINT: "" },
  }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({
      code: e.code,
      stdout: e.stdout,
      stderr: e.stderr,
    }),
  );
}

const REPO = "test-org/bge-shaped";
const REV = "0123456789abcdef0123456789abcdef01234567";
let manifest: ModelManifest;
let modelBytes: Buffer;
const files = new Map<string, Buffer>();
const hub = startHub(files);
let hubUrl = "";

beforeAll(async () => {
  const generated = await ensureGeneratedBertModel("tiny-int8");
  modelBytes = readFileSync(generated.path);
  const fileOf = (path: string, saveAs: string, body: Buffer) => {
    files.set(`/${REPO}/resolve/${REV}/${path}`, body);
    return { path, saveAs, bytes: body.length, sha256: sha256(body) };
  };
  manifest = {
    name: "bge-small-en-v1.5",
    repo: REPO,
    revision: REV,
    dims: 384,
    files: [
      fileOf("vocab.txt", "vocab.txt", readFileSync(join(TOKENIZER_DIR, "vocab.txt"))),
      fileOf(
        "tokenizer_config.json",
        "tokenizer_config.json",
        readFileSync(join(TOKENIZER_DIR, "tokenizer_config.json")),
      ),
      fileOf("onnx/model_quantized.onnx", "model_quantized.onnx", modelBytes),
    ],
  };
  expect(manifest.files[2].sha256).toBe(generated.sha256);
  hubUrl = await hub.listen();
}, 120_000);
afterAll(() => hub.close());

describe("models pull", () => {
  const { home, cleanup } = tempHome("tm-pull-");
  afterAll(cleanup);
  const modelDir = join(home, "models", "bge-small-en-v1.5");

  it("auto without the weights names the command that fetches them", () => {
    const choice = chooseEmbedder(loadDaemonConfig({}, { TRIBAL_MEMORY_HOME: home }));
    expect(choice?.kind).toBe("use");
    expect(choice?.hint).toContain("tribalmemory models pull bge-small-en-v1.5");
  });

  it("downloads every file with progress, each checked against its sum; a second pull fetches nothing", async () => {
    const progress: number[] = [];
    const result = await pullModel({
      manifest,
      dir: modelDir,
      hub: hubUrl,
      onProgress: (p) => progress.push(p.done),
    });
    const total = manifest.files.reduce((n, f) => n + f.bytes, 0);
    expect(result.files.map((f) => f.status)).toEqual(["downloaded", "downloaded", "downloaded"]);
    expect(result.downloadedBytes).toBe(total);
    expect(sha256(readFileSync(join(modelDir, "model_quantized.onnx")))).toBe(manifest.files[2].sha256);
    expect(progress.at(-1)).toBe(total);
    expect(progress.every((d, i) => i === 0 || d >= progress[i - 1])).toBe(true);
    expect(progress.length).toBeGreaterThan(3);
    // The figure the issue asks for: loopback pull throughput (disk and hashing included).
    console.log(
      `models pull over loopback: ${(total / 1e6).toFixed(1)} MB in ${result.ms} ms = ${(total / 1e6 / (result.ms / 1000)).toFixed(0)} MB/s`,
    );
    const before = hub.requests.length;
    const again = await pullModel({ manifest, dir: modelDir, hub: hubUrl });
    expect(again.files.map((f) => f.status)).toEqual(["present", "present", "present"]);
    expect(again.downloadedBytes).toBe(0);
    expect(hub.requests.length).toBe(before);
  });

  it("the daemon on auto then runs the pulled model and its tokenizer", async () => {
    writeFileSync(join(home, "config.yaml"), `embedding:\n  model_sha256: ${manifest.files[2].sha256}\n`);
    const config = loadDaemonConfig({ port: 0 }, { TRIBAL_MEMORY_HOME: home });
    expect(chooseEmbedder(config)?.hint).toBeUndefined();
    const daemon = await startDaemon(config, { logger: pino({ level: "silent" }) });
    try {
      await daemon.embedderReady;
      expect(daemon.embedder).toMatchObject({ status: "ready", error: null });
      expect(daemon.embedder.model).toBe(`bge-small-en-v1.5 (${join(modelDir, "model_quantized.onnx")})`);
      expect(daemon.service.embedding?.provider.dims).toBe(384);
      const api = apiClient(daemon.url, readLocalToken(home));
      expect(
        (await api.post("/v1/remember", { content: "The pulled model embeds this memory" })).status,
      ).toBe(201);
      const recall = await api.post("/v1/recall", { query: "pulled model memory", limit: 1 });
      expect(recall.body.results[0].signals.vector).toBeDefined();
      expect((await api.get("/v1/health")).body.embedding.hint).toBeUndefined();
    } finally {
      await daemon.close();
    }
  });
});

describe("models pull failures", () => {
  const { home, cleanup } = tempHome("tm-pull-fail-");
  afterAll(cleanup);

  it("resumes after a cut connection with a Range request for the rest", async () => {
    const dir = join(home, "resume");
    const modelPath = `/${REPO}/resolve/${REV}/onnx/model_quantized.onnx`;
    hub.cutOnce.set(modelPath, 5_000_000);
    const cut = await failure(pullModel({ manifest, dir, hub: hubUrl, attempts: 1 }));
    expect(cut.code).toBe("MODEL_HUB_UNREACHABLE");
    expect(cut.message).toContain("resumes from");
    const partial = statSync(join(dir, "model_quantized.onnx.part")).size;
    expect(partial).toBeGreaterThan(0);
    expect(partial).toBeLessThan(modelBytes.length);
    expect(existsSync(join(dir, "model_quantized.onnx"))).toBe(false);
    const before = hub.requests.length;
    const result = await pullModel({ manifest, dir, hub: hubUrl });
    expect(hub.requests.slice(before)).toEqual([{ path: modelPath, range: `bytes=${partial}-` }]);
    expect(result.files.map((f) => f.status)).toEqual(["present", "present", "resumed"]);
    expect(result.downloadedBytes).toBe(modelBytes.length - partial);
    expect(sha256(readFileSync(join(dir, "model_quantized.onnx")))).toBe(manifest.files[2].sha256);
    expect(existsSync(join(dir, "model_quantized.onnx.part"))).toBe(false);
  });

  it("a file whose sum differs from the pinned one is refused and deleted, nothing installed", async () => {
    const dir = join(home, "mismatch");
    const wrong = {
      ...manifest,
      files: manifest.files.map((f, i) => (i === 2 ? { ...f, sha256: "0".repeat(64) } : f)),
    };
    const err = await failure(pullModel({ manifest: wrong, dir, hub: hubUrl }));
    expect(err.code).toBe("MODEL_CHECKSUM_MISMATCH");
    expect(err.details).toMatchObject({
      expectedSha256: "0".repeat(64),
      actualSha256: manifest.files[2].sha256,
    });
    expect(err.message).toContain("nothing was installed");
    expect(existsSync(join(dir, "model_quantized.onnx"))).toBe(false);
    expect(existsSync(join(dir, "model_quantized.onnx.part"))).toBe(false);
  });

  it("a hub that is down gives MODEL_HUB_UNREACHABLE saying what to do; a missing file MODEL_HUB_NOT_FOUND", async () => {
    const down = await failure(
      pullModel({
        manifest,
        dir: join(home, "down"),
        hub: `http://127.0.0.1:${await closedPort()}`,
        attempts: 2,
      }),
    );
    expect(down.code).toBe("MODEL_HUB_UNREACHABLE");
    expect(down.message).toContain("ECONNREFUSED");
    expect(down.message).toContain("TRIBAL_MEMORY_MODEL_HUB");
    const missing = { ...manifest, files: [{ ...manifest.files[0], path: "no/such/file.txt" }] };
    const notFound = await failure(pullModel({ manifest: missing, dir: join(home, "404"), hub: hubUrl }));
    expect(notFound.code).toBe("MODEL_HUB_NOT_FOUND");
    expect(notFound.status).toBe(404);
  });

  it("the CLI pulls the real manifest's pinned tokenizer files and fails clearly on the first file the hub lacks; list shows it incomplete", async () => {
    const real = MODEL_MANIFESTS["bge-small-en-v1.5"];
    // The tokenizer files the repository ships, at the real manifest's paths: their pinned sums must match.
    for (const f of real.files) {
      if (existsSync(join(TOKENIZER_DIR, f.saveAs))) {
        files.set(
          `/${real.repo}/resolve/${real.revision}/${f.path}`,
          readFileSync(join(TOKENIZER_DIR, f.saveAs)),
        );
      }
    }
    const cliHome = join(home, "cli");
    const run = (args: string[]) => runCli(cliHome, args);
    const pull = await run(["models", "pull", "bge-small-en-v1.5"]);
    expect(pull.code).toBe(1);
    // After the progress bar, the error on a line of its own.
    expect(pull.stderr).toMatch(/\ntribalmemory: MODEL_HUB_NOT_FOUND: /);
    expect(pull.stderr).toContain("tokenizer.json answered 404");
    const installed = join(cliHome, "models", "bge-small-en-v1.5");
    expect(readFileSync(join(installed, "vocab.txt"))).toEqual(
      readFileSync(join(TOKENIZER_DIR, "vocab.txt")),
    );
    const list = await run(["models", "list", "--json"]);
    expect(list.code).toBe(0);
    const listed = JSON.parse(list.stdout) as {
      models: { name: string; status: string }[];
      active: { provider: string; model: string; hint: string | null };
    };
    expect(listed.models.find((m) => m.name === "bge-small-en-v1.5")?.status).toContain("incomplete");
    expect(listed.active.provider).toBe("auto");
    expect(listed.active.model).toContain("use-lite-512");
    expect(listed.active.hint).toContain("models pull bge-small-en-v1.5");
    const unknown = await run(["models", "pull", "nomic-embed-text"]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("embedding.provider: openai");
  });
});

describe("models pull from the command line", () => {
  const { home, cleanup } = tempHome("tm-pull-cli-");
  afterAll(cleanup);

  it("pulls a --manifest model with a progress bar into the daemon's folder, and list shows it active", async () => {
    const manifestPath = join(home, "manifest.json");
    writeFileSync(manifestPath, JSON.stringify(manifest));
    const pull = await runCli(home, ["models", "pull", "bge-small-en-v1.5", "--manifest", manifestPath]);
    expect(pull.stderr).toMatch(/bge-small-en-v1\.5 \(13\.\d MB\) \[#{30}\]/);
    expect(pull.code).toBe(0);
    expect(pull.stdout).toContain("downloaded in");
    expect(pull.stdout).toContain("every file matches its pinned SHA-256");
    expect(pull.stdout).toContain("Restart the daemon");
    const dir = join(home, "models", "bge-small-en-v1.5");
    expect(sha256(readFileSync(join(dir, "model_quantized.onnx")))).toBe(manifest.files[2].sha256);
    const list = await runCli(home, ["models", "list", "--json"]);
    const listed = JSON.parse(list.stdout) as {
      models: { name: string; status: string }[];
      active: { model: string; hint: string | null };
    };
    // Three of the built-in manifest's six files: list says so, and auto now picks the folder's model.
    expect(listed.models.find((m) => m.name === "bge-small-en-v1.5")?.status).toBe(
      "incomplete (run models pull again)",
    );
    expect(listed.active.model).toBe(`bge-small-en-v1.5 (${join(dir, "model_quantized.onnx")})`);
    expect(listed.active.hint).toBeNull();
  });
});
