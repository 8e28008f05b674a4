import { connect } from "node:net";
import { readLocalToken } from "@tribalmemory/shared/config/local-token";
import { createHashingProvider } from "@tribalmemory/shared/embed/hashing";
import { newMemoryId } from "@tribalmemory/shared/memory/ids";
import { Agent, request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnDaemon, startTestDaemon, tempHome } from "../helpers/daemon.ts";

type Daemon = Awaited<ReturnType<typeof startTestDaemon>>;

function jsonl(n: number, offset = 0): string {
  let out = `${JSON.stringify({ manifest: { schema_version: "1.0", memory_count: n } })}\n`;
  for (let i = 0; i < n; i++) {
    out += `${JSON.stringify({
      id: newMemoryId(Date.UTC(2024, 0, 1) + offset + i),
      content: `Alice moved the billing queue on 2024-03-${1 + (i % 28)} because p99 latency doubled (note ${offset + i}). Bob agreed.`,
      tags: ["ops"],
    })}\n`;
  }
  return out;
}

/** A raw HTTP exchange, for requests undici would not send (a Content-Length it never meets). */
function rawHttp(port: number, head: string, body: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    let got = "";
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no response within ${timeoutMs} ms (got ${JSON.stringify(got.slice(0, 200))})`));
    }, timeoutMs);
    socket.on("data", (d) => {
      got += d.toString();
      if (/\r\n\r\n[\s\S]*\}/.test(got)) {
        clearTimeout(timer);
        socket.destroy();
        resolve(got);
      }
    });
    socket.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.write(head + body);
  });
}

describe("large imports stream and leave the daemon responsive", () => {
  const home = tempHome();
  let daemon: Awaited<ReturnType<typeof spawnDaemon>>;
  /** The local token: import and export need it. */
  let token: Record<string, string>;
  beforeAll(async () => {
    daemon = await spawnDaemon(home.home);
    token = { "x-tribal-token": readLocalToken(home.home) ?? "" };
  }, 30_000);
  afterAll(async () => {
    daemon.child.kill("SIGTERM");
    await new Promise((r) => daemon.child.once("exit", r));
    home.cleanup();
  });

  it("answers /v1/health quickly during a JSONL import and shows its progress there and in the log", async () => {
    const n = 2000;
    const agent = new Agent({ connections: 64 });
    const latencies: number[] = [];
    const progress: { running: boolean; done: number; total: number | null }[] = [];
    let importing = true;
    // Send on a fixed schedule and measure from the scheduled time, so a frozen daemon shows as
    // latency rather than as fewer samples.
    const poller = (async () => {
      const pending: Promise<void>[] = [];
      let next = performance.now();
      while (importing) {
        const scheduled = next;
        pending.push(
          (async () => {
            const res = await request(`${daemon.url}/v1/health`, { dispatcher: agent });
            const body = (await res.body.json()) as { import?: (typeof progress)[number] };
            latencies.push(performance.now() - scheduled);
            if (body.import?.running) progress.push(body.import);
          })(),
        );
        next += 20;
        await new Promise((r) => setTimeout(r, Math.max(0, next - performance.now())));
      }
      await Promise.all(pending);
    })();
    await new Promise((r) => setTimeout(r, 100));
    const res = await request(`${daemon.url}/v1/import`, {
      method: "POST",
      dispatcher: agent,
      headers: { "content-type": "application/x-ndjson", ...token },
      body: jsonl(n),
    });
    const summary = (await res.body.json()) as { imported: number; total: number };
    importing = false;
    await poller;
    await agent.close();
    expect(res.statusCode).toBe(201);
    expect(summary).toMatchObject({ imported: n, total: n });
    latencies.sort((a, b) => a - b);
    const median = latencies[Math.floor(latencies.length / 2)];
    // Before streaming every poll waited for the whole import (median 4.5 s for 2,500 lines).
    // Only the median is asserted: the tail depends on how busy the machine is (the benchmark
    // reports p99 at 100k: `pnpm bench import-health`).
    expect(median).toBeLessThan(100);
    expect(progress.length).toBeGreaterThan(3);
    expect(progress.at(-1)).toMatchObject({ running: true, total: n });
    expect(progress.at(-1)?.done).toBeGreaterThan(0);
    const after = (await (await request(`${daemon.url}/v1/health`)).body.json()) as {
      memory_count: number;
      import: { running: boolean };
    };
    expect(after.memory_count).toBe(n);
    expect(after.import.running).toBe(false);
    expect(daemon.stderr()).toMatch(/"done":\d+.*"total":2000.*"msg":"import progress"/);
  }, 120_000);

  it("refuses a JSONL import whose declared length is over the streaming cap with 413, before reading it", async () => {
    const port = Number(new URL(daemon.url).port);
    const reply = await rawHttp(
      port,
      [
        "POST /v1/import HTTP/1.1",
        `Host: 127.0.0.1:${port}`,
        "Content-Type: application/x-ndjson",
        `X-Tribal-Token: ${token["x-tribal-token"]}`,
        `Content-Length: ${8 * 1024 * 1024 * 1024}`,
        "",
        "",
      ].join("\r\n"),
      '{"content":"first line of a very long import"}\n',
    );
    expect(reply).toMatch(/^HTTP\/1\.1 413/);
    expect(reply).toContain('"PAYLOAD_TOO_LARGE"');
  });

  it("limits each route's body: recall refuses a 2 MiB body with 413 instead of reading it", async () => {
    // A declared length past the cap is answered at once (a client still writing would see EPIPE).
    const port = Number(new URL(daemon.url).port);
    const reply = await rawHttp(
      port,
      [
        "POST /v1/recall HTTP/1.1",
        `Host: 127.0.0.1:${port}`,
        "Content-Type: application/json",
        `Content-Length: ${2 * 1024 * 1024}`,
        "",
        "",
      ].join("\r\n"),
      '{"query":"xxxxxxxx',
    );
    expect(reply).toMatch(/^HTTP\/1\.1 413/);
    expect(reply).toContain('"PAYLOAD_TOO_LARGE"');
  });
});

describe("imports refuse what they cannot store correctly", () => {
  const home = tempHome();
  let d: Daemon;
  const hashing = createHashingProvider();
  const manifest = { schema_version: "1.0", embedding: { model_name: "hashing-bow-384", dimensions: 384 } };
  const stats = async () => (await d.api.get("/v1/stats")).body;
  beforeAll(async () => {
    d = await startTestDaemon(home.home);
  });
  afterAll(async () => {
    await d.close();
    home.cleanup();
  });

  it("refuses a vector of the wrong dimension with a coded 422 under on_error=abort, storing nothing", async () => {
    const before = (await stats()).total_memories;
    const r = await d.api.post("/v1/import", {
      bundle: {
        manifest,
        entries: [
          { content: "a fine entry before the bad one" },
          { content: "vector of the wrong length", embedding: Array(100).fill(0.1) },
        ],
      },
      on_error: "abort",
    });
    expect(r.status).toBe(422);
    expect(r.body.error.code).toBe("IMPORT_EMBEDDING_INVALID");
    expect(r.body.error.message).toMatch(/line 2.*100 dimensions.*384/);
    expect((await stats()).total_memories).toBe(before);
  });

  it("imports the memory of a wrong-dimension vector without that vector and re-embeds it", async () => {
    const r = await d.api.post("/v1/import", {
      bundle: {
        manifest,
        entries: [{ content: "orchid greenhouse humidity log", embedding: Array(100).fill(0.1) }],
      },
    });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ imported: 1, errors: 0, vectors_rejected: 1 });
    expect(r.body.error_details[0]).toMatch(/^line 1: IMPORT_EMBEDDING_INVALID: .*100 dimensions/);
    await d.service.scheduleBackfill();
    const s = await stats();
    expect(s.missing_embeddings).toBe(0);
    const recall = await d.api.post("/v1/recall", { query: "orchid greenhouse humidity log" });
    expect(recall.body.results[0].memory.content).toBe("orchid greenhouse humidity log");
    expect(recall.body.results[0].signals.vector.similarity).toBeGreaterThan(0.99);
  });

  it("normalises huge finite values (1e308) safely instead of storing a NaN vector", async () => {
    const content = "telescope mirror coating schedule";
    const [unit] = await hashing.embed([content], "passage");
    const r = await d.api.post("/v1/import", {
      bundle: { manifest, entries: [{ content, embedding: Array.from(unit, (x) => x * 1e308) }] },
    });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ imported: 1, errors: 0 });
    const recall = await d.api.post("/v1/recall", { query: content });
    const hit = recall.body.results.find(
      (x: { memory: { content: string } }) => x.memory.content === content,
    );
    expect(recall.body.results[0].memory.content).toBe(content);
    // A NaN vector scores null (NaN in JSON) or drops out of the vector list.
    expect(hit.signals.vector?.similarity).toBeGreaterThan(0.99);
    expect(Number.isFinite(hit.similarity_score)).toBe(true);
  });

  it("refuses non-finite and all-zero vectors with a coded 422 under on_error=abort", async () => {
    const before = (await stats()).total_memories;
    const infinite = await d.api.raw(
      "POST",
      "/v1/import?on_error=abort",
      `${JSON.stringify({ manifest })}\n{"content":"overflowing vector","embedding":[1e400${",0.5".repeat(383)}]}\n`,
      "application/x-ndjson",
    );
    expect(infinite.status).toBe(422);
    expect(infinite.body.error.code).toBe("IMPORT_EMBEDDING_INVALID");
    const zero = await d.api.post("/v1/import", {
      bundle: { manifest, entries: [{ content: "zero vector", embedding: Array(384).fill(0) }] },
      on_error: "abort",
    });
    expect(zero.status).toBe(422);
    expect(zero.body.error.code).toBe("IMPORT_EMBEDDING_INVALID");
    expect((await stats()).total_memories).toBe(before);
  });

  it("counts two entries with one new id as one import and one repeat, by conflict_resolution", async () => {
    const id = newMemoryId();
    const entries = [
      { id, content: "first version of the repeated entry" },
      { id, content: "second version of the repeated entry" },
    ];
    const before = (await stats()).total_memories;
    const skip = await d.api.post("/v1/import", { bundle: { manifest, entries } });
    expect(skip.body).toMatchObject({ total: 2, imported: 1, skipped: 1, repeated_ids: 1 });
    expect((await stats()).total_memories).toBe(before + 1);
    expect((await d.api.get(`/v1/memory/${id}`)).body.content).toBe("first version of the repeated entry");

    // New contents: the ones above are stored now and would count as duplicates.
    const id2 = newMemoryId();
    const over = await d.api.raw(
      "POST",
      "/v1/import?conflict_resolution=overwrite",
      entries.map((e) => JSON.stringify({ id: id2, content: `${e.content} (overwrite run)` })).join("\n"),
      "application/x-ndjson",
    );
    expect(over.body).toMatchObject({ total: 2, imported: 1, overwritten: 1, repeated_ids: 1 });
    expect((await stats()).total_memories).toBe(before + 2);
    expect((await d.api.get(`/v1/memory/${id2}`)).body.content).toBe(
      "second version of the repeated entry (overwrite run)",
    );

    const dry = await d.api.post("/v1/import", {
      bundle: {
        manifest,
        entries: entries.map((e) => ({ id: newMemoryId(), content: `${e.content} (dry)` })),
      },
      dry_run: true,
    });
    expect(dry.body).toMatchObject({ imported: 2, dry_run: true });
    const id3 = newMemoryId();
    const dryRepeat = await d.api.post("/v1/import", {
      bundle: { manifest, entries: entries.map((e) => ({ id: id3, content: `${e.content} (dry repeat)` })) },
      dry_run: true,
    });
    expect(dryRepeat.body).toMatchObject({ imported: 1, skipped: 1, repeated_ids: 1, dry_run: true });
    expect((await stats()).total_memories).toBe(before + 2);
  });
});
