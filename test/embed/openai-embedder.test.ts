/**
 * `embedding.provider: openai` against a loopback server that speaks the OpenAI embeddings
 * protocol: batching, retries, timeouts, auth, and the daemon and relay running on it.
 */
import { writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { Writable } from "node:stream";
import { type RunningDaemon, startDaemon } from "@tribalmemory/daemon/daemon";
import { loadDaemonConfig } from "@tribalmemory/shared/config/config";
import { readLocalToken } from "@tribalmemory/shared/config/local-token";
import {
  createOpenAiEmbedder,
  embeddingsUrl,
  retryAfterMs,
} from "@tribalmemory/shared/embed/openai-embedder";
import { chooseEmbedder } from "@tribalmemory/shared/embed/select-embedder";
import { TribalError } from "@tribalmemory/shared/errors";
import type { EmbedderInfo } from "@tribalmemory/shared/service/memory-service";
import type { RelayDatabase, RunningRelay } from "@tribalmemory/sync-server";
import { openTestDatabase, startTestRelay } from "@tribalmemory/sync-server/testing";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiClient, tempHome } from "../helpers/daemon.ts";
import { workspaceKey } from "../helpers/relay.ts";
import {
  bagOfWordsVector,
  type OpenAiCompatibleServer,
  startOpenAiCompatibleServer,
} from "./openai-compatible-server.ts";

const KEY = "sk-test-0123456789abcdef";
let server: OpenAiCompatibleServer;
beforeAll(async () => {
  server = await startOpenAiCompatibleServer({ models: { "embed-a": 16, "embed-b": 24 }, apiKey: KEY });
});
afterAll(() => server.close());

/** A loopback port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
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

describe("OpenAI-compatible embedder", () => {
  it("base_url forms: …/v1 gets /embeddings, a bare host /v1/embeddings, a full URL stays; Retry-After seconds and dates", () => {
    expect(embeddingsUrl("https://api.openai.com/v1")).toBe("https://api.openai.com/v1/embeddings");
    expect(embeddingsUrl("http://127.0.0.1:11434/v1/")).toBe("http://127.0.0.1:11434/v1/embeddings");
    expect(embeddingsUrl("http://127.0.0.1:8080")).toBe("http://127.0.0.1:8080/v1/embeddings");
    expect(embeddingsUrl("http://h/openai/deployments/x/embeddings")).toBe(
      "http://h/openai/deployments/x/embeddings",
    );
    expect(retryAfterMs("2")).toBe(2000);
    expect(retryAfterMs(new Date(Date.now() + 5000).toUTCString())).toBeGreaterThan(3000);
    expect(retryAfterMs(null)).toBeNull();
  });

  it("learns the dimensions with one probe and sends texts in bounded batches, in order, unit length", async () => {
    const before = server.calls.length;
    const e = await createOpenAiEmbedder({
      baseUrl: server.baseUrl,
      model: "embed-a",
      apiKey: KEY,
      maxBatch: 4,
    });
    expect(e.dims).toBe(16);
    expect(e.modelId).toBe("embed-a");
    const texts = Array.from({ length: 10 }, (_, i) => `text number ${i} about topic${i}`);
    const vectors = await e.embed(texts, "passage");
    const calls = server.calls.slice(before);
    expect(calls.map((c) => c.inputs.length)).toEqual([1, 4, 4, 2]);
    expect(calls[0].authorization).toBe(`Bearer ${KEY}`);
    expect(vectors).toHaveLength(10);
    for (let i = 0; i < 10; i++) {
      const raw = bagOfWordsVector("embed-a", texts[i], 16);
      const norm = Math.hypot(...raw);
      expect(Array.from(vectors[i]).map((x) => Number(x.toFixed(5)))).toEqual(
        raw.map((x) => Number((x / norm).toFixed(5))),
      );
    }
  });

  it("query and passage prefixes (nomic-embed-text's instructions) go in front of each text", async () => {
    const e = await createOpenAiEmbedder({
      baseUrl: server.baseUrl,
      model: "embed-a",
      apiKey: KEY,
      queryPrefix: "search_query: ",
      passagePrefix: "search_document: ",
    });
    const before = server.calls.length;
    await e.embed(["where"], "query");
    await e.embed(["here", "there"], "passage");
    expect(server.calls.slice(before).map((c) => c.inputs)).toEqual([
      ["search_query: where"],
      ["search_document: here", "search_document: there"],
    ]);
  });

  it("a 429 is retried after Retry-After and then succeeds", async () => {
    const e = await createOpenAiEmbedder({ baseUrl: server.baseUrl, model: "embed-a", apiKey: KEY });
    const requestsBefore = e.requests;
    server.rateLimitNext(1, "0");
    const [v] = await e.embed(["rate limited once"], "query");
    expect(v).toHaveLength(16);
    expect(e.requests - requestsBefore).toBe(2);
  });

  it("a request with no answer times out, is retried, and then fails with EMBEDDING_ENDPOINT_UNAVAILABLE", async () => {
    const e = await createOpenAiEmbedder({
      baseUrl: server.baseUrl,
      model: "embed-a",
      apiKey: KEY,
      timeoutMs: 200,
      maxRetries: 1,
      backoffMs: 10,
    });
    server.hangNext(2);
    const started = Date.now();
    const err = await failure(e.embed(["never answered"], "passage"));
    expect(err.code).toBe("EMBEDDING_ENDPOINT_UNAVAILABLE");
    expect(err.details).toMatchObject({ tries: 2, timedOut: true });
    expect(err.message).toContain("no answer within 200 ms");
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it("a wrong key fails at start with EMBEDDING_ENDPOINT_AUTH_FAILED, saying which variable to set and never the key", async () => {
    const wrong = "sk-wrong-key-should-not-be-echoed";
    const err = await failure(
      createOpenAiEmbedder({ baseUrl: server.baseUrl, model: "embed-a", apiKey: wrong }),
    );
    expect(err.code).toBe("EMBEDDING_ENDPOINT_AUTH_FAILED");
    expect(err.status).toBe(502);
    expect(err.message).toContain("TRIBAL_MEMORY_EMBEDDING_API_KEY");
    expect(JSON.stringify({ m: err.message, d: err.details })).not.toContain(wrong);
  });

  it("an unknown model fails with EMBEDDING_ENDPOINT_REJECTED and the server's message; a closed port with UNAVAILABLE", async () => {
    const err = await failure(createOpenAiEmbedder({ baseUrl: server.baseUrl, model: "nope", apiKey: KEY }));
    expect(err.code).toBe("EMBEDDING_ENDPOINT_REJECTED");
    expect(err.message).toContain('model "nope" not found');
    const down = await failure(
      createOpenAiEmbedder({
        baseUrl: `http://127.0.0.1:${await closedPort()}/v1`,
        model: "embed-a",
        maxRetries: 1,
        backoffMs: 5,
      }),
    );
    expect(down.code).toBe("EMBEDDING_ENDPOINT_UNAVAILABLE");
    expect(down.message).toContain("ECONNREFUSED");
  });
});

describe("loading against an endpoint that is not answering yet", () => {
  const { home, cleanup } = tempHome("tm-openai-wait-");
  afterAll(cleanup);
  const choice = () =>
    chooseEmbedder(
      loadDaemonConfig(
        {},
        {
          TRIBAL_MEMORY_HOME: home,
          TRIBAL_MEMORY_EMBEDDING: "openai",
          TRIBAL_MEMORY_EMBEDDING_BASE_URL: server.baseUrl,
          TRIBAL_MEMORY_EMBEDDING_MODEL: "embed-a",
          TRIBAL_MEMORY_EMBEDDING_API_KEY: KEY,
        },
      ),
    );

  it("with a signal (the daemon) it waits and loads once the endpoint answers; without one (relay start) it fails at once", async () => {
    server.rateLimitNext(8); // the first load's six tries, then two more
    const waits: number[] = [];
    const info = await choice()?.load({
      signal: new AbortController().signal,
      retryDelayMs: 20,
      onWaiting: (err, ms) => {
        expect(err.code).toBe("EMBEDDING_ENDPOINT_UNAVAILABLE");
        waits.push(ms);
      },
    });
    expect(waits).toEqual([20]);
    expect(info?.provider.dims).toBe(16);
    server.rateLimitNext(6);
    const err = await failure(choice()?.load() ?? Promise.resolve());
    expect(err.code).toBe("EMBEDDING_ENDPOINT_UNAVAILABLE");
  });

  it("an abort (daemon close) ends the wait with the endpoint's error", async () => {
    server.rateLimitNext(1_000);
    const stop = new AbortController();
    const started = Date.now();
    const err = await failure(
      choice()?.load({ signal: stop.signal, retryDelayMs: 60_000, onWaiting: () => stop.abort() }) ??
        Promise.resolve(),
    );
    server.rateLimitNext(0);
    expect(err.code).toBe("EMBEDDING_ENDPOINT_UNAVAILABLE");
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});

describe("daemon with embedding.provider openai", () => {
  const { home, cleanup } = tempHome("tm-openai-");
  const configPath = join(home, "config.yaml");
  const env = { TRIBAL_MEMORY_HOME: home, TRIBAL_MEMORY_EMBEDDING_API_KEY: KEY };
  const logLines: string[] = [];
  const logger = pino(
    { level: "info" },
    new Writable({
      write(chunk, _enc, done) {
        logLines.push(String(chunk));
        done();
      },
    }),
  );
  let daemon: RunningDaemon | null = null;
  afterAll(async () => {
    await daemon?.close();
    cleanup();
  });

  async function start(model: string): Promise<RunningDaemon> {
    writeFileSync(
      configPath,
      `embedding:\n  provider: openai\n  base_url: ${server.baseUrl}\n  model: ${model}\n  batch_size: 2\n`,
    );
    const config = loadDaemonConfig({ port: 0 }, env);
    const d = await startDaemon(config, { logger });
    await d.embedderReady;
    return d;
  }

  it("remembers and recalls through the endpoint, with the key from the environment and never in the log", async () => {
    daemon = await start("embed-a");
    expect(daemon.embedder).toMatchObject({ status: "ready" });
    const api = apiClient(daemon.url, readLocalToken(home));
    const health = await api.get("/v1/health");
    expect(health.body.embedding.model).toContain("embed-a via");
    const before = server.calls.length;
    for (const content of [
      "The billing service stores invoices in Postgres",
      "Deploys happen on Tuesday afternoons",
      "The search cluster runs Elasticsearch eight",
    ]) {
      expect((await api.post("/v1/remember", { content })).status).toBe(201);
    }
    const recall = await api.post("/v1/recall", { query: "where are invoices stored", limit: 3 });
    expect(recall.status).toBe(200);
    const top = recall.body.results[0];
    expect(top.memory.content).toContain("invoices");
    expect(top.signals.vector.similarity).toBeGreaterThan(0);
    const calls = server.calls.slice(before);
    expect(calls.some((c) => c.inputs.includes("where are invoices stored"))).toBe(true);
    expect(calls.every((c) => c.model === "embed-a" && c.authorization === `Bearer ${KEY}`)).toBe(true);
    expect(logLines.join("")).not.toContain(KEY);
  });

  it("a model change (other model id and size) re-embeds every memory at start, with progress", async () => {
    await daemon?.close();
    daemon = null;
    logLines.length = 0;
    const before = server.calls.length;
    daemon = await start("embed-b");
    expect(await daemon.store.embeddingModel()).toEqual({ modelId: "embed-b", dims: 24 });
    expect(await daemon.store.countMissingEmbeddings()).toBe(0);
    expect(daemon.embedder.backfill).toEqual({ done: 3, total: 3 });
    const passages = server.calls
      .slice(before)
      .filter((c) => c.model === "embed-b" && c.inputs[0] !== "dimension probe");
    // batch_size 2: three memories in two requests.
    expect(passages.map((c) => c.inputs.length).sort()).toEqual([1, 2]);
    expect(logLines.join("")).toContain("backfilling embeddings");
    const api = apiClient(daemon.url, readLocalToken(home));
    const recall = await api.post("/v1/recall", { query: "when do deploys happen", limit: 1 });
    expect(recall.body.results[0].memory.content).toContain("Deploys");
    expect(recall.body.results[0].signals.vector.similarity).toBeGreaterThan(0);
  });

  it("an endpoint failing mid-run: remember still stores (no vector yet) and recall answers by keyword", async () => {
    const api = apiClient(daemon?.url ?? "", readLocalToken(home));
    server.rateLimitNext(1_000, "0");
    try {
      const started = Date.now();
      const r = await api.post("/v1/remember", { content: "The pager rotation changes on Mondays" });
      expect(r.status).toBe(201);
      const recall = await api.post("/v1/recall", { query: "pager rotation", limit: 3 });
      expect(recall.status).toBe(200);
      expect(recall.body.results[0].memory.content).toContain("pager");
      expect(recall.body.results[0].signals.vector).toBeUndefined();
      expect(Date.now() - started).toBeLessThan(30_000);
      expect(logLines.join("")).toContain("embedding failed");
    } finally {
      server.rateLimitNext(0);
    }
  }, 60_000);
});

describe("relay with embedding.provider openai", () => {
  const { home, cleanup } = tempHome("tm-openai-relay-");
  let db: RelayDatabase | undefined;
  let relay: RunningRelay | undefined;
  let embedder: EmbedderInfo | null | undefined;
  beforeAll(async () => {
    // The relay's embedder comes from the same config section, as `relay start` builds it.
    const configPath = join(home, "config.yaml");
    writeFileSync(configPath, "embedding:\n  provider: openai\n  model: embed-a\n");
    const config = loadDaemonConfig(
      { configPath },
      { TRIBAL_MEMORY_HOME: home, TRIBAL_MEMORY_EMBEDDING_BASE_URL: server.baseUrl, OPENAI_API_KEY: KEY },
    );
    embedder = await chooseEmbedder(config)?.load();
    db = await openTestDatabase();
    relay = await startTestRelay(db, { embedder });
  });
  afterAll(async () => {
    await relay?.close();
    await db?.close();
    await embedder?.provider.close();
    cleanup();
  });

  it("POST /v1/embed answers with the endpoint's vectors, and relay recall ranks by them", async () => {
    if (!db || !relay) throw new Error("relay not started");
    const { key } = await workspaceKey(db, "openai-embed", ["read", "write"]);
    const api = apiClient(relay.url);
    const auth = { authorization: `Bearer ${key}` };
    const embed = await api.post("/v1/embed", { texts: ["invoices in postgres"], kind: "passage" }, auth);
    expect(embed.status).toBe(200);
    expect(embed.body).toMatchObject({ model: "embed-a", dims: 16 });
    const raw = bagOfWordsVector("embed-a", "invoices in postgres", 16);
    expect(embed.body.embeddings[0][raw.indexOf(Math.max(...raw))]).toBeGreaterThan(0);
    for (const content of [
      "The billing service stores invoices in Postgres",
      "Deploys happen on Tuesday afternoons",
    ]) {
      expect((await api.post("/v1/remember", { content }, auth)).status).toBe(201);
    }
    const recall = await api.post("/v1/recall", { query: "where are invoices stored", limit: 2 }, auth);
    expect(recall.status).toBe(200);
    expect(recall.body.results[0].memory.content).toContain("invoices");
    expect(recall.body.results[0].signals.vector.similarity).toBeGreaterThan(0);
  });
});
