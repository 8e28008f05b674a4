import { randomBytes } from "node:crypto";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket, { WebSocketServer } from "ws";
import {
  api,
  type DaemonProcess,
  freePort,
  type RelayProcess,
  relayDb,
  relayInit,
  startDaemonProcess,
  startRelayProcess,
  tempDir,
  waitFor,
} from "./harness.ts";

/**
 * Issue 8, sizes end to end, over real processes: one size policy on daemon and relay (a
 * write one side accepts, the other accepts too; oversize or over-deep context is a coded 4xx),
 * and relay pages bounded in bytes so a client with a frame limit always bootstraps.
 *
 * The relay and daemons here run with a 96 KiB page budget (TRIBAL_MEMORY_SYNC_PAGE_BYTES) and
 * the new daemon sits behind a proxy that allows 192 KiB frames, so a log of ~1 MB plays the
 * part of a production log past the 16 MiB frame without writing 16 MiB.
 */
const PAGE_BUDGET = 96 * 1024;
const FRAME_LIMIT = 192 * 1024;

type ErrorBody = { error: { code: string; message: string } };
type Status = {
  state: string;
  outbox: number;
  cursor: number;
  last_error: { code: string } | null;
};

/** Text that neither deflate nor dedup can shrink: the sizes below are the sizes on the wire. */
const noise = (bytes: number) =>
  randomBytes(Math.ceil((bytes * 3) / 4))
    .toString("base64")
    .slice(0, bytes);

/** JSON text of a remember body whose context nests `levels` deep (JSON.stringify overflows on it). */
function deepContextBody(content: string, levels: number): string {
  return `{"content":${JSON.stringify(content)},"context":${'{"a":'.repeat(levels)}{"leaf":true}${"}".repeat(levels)}}`;
}

async function postText(
  base: string,
  path: string,
  text: string,
  key?: string,
): Promise<{ status: number; body: ErrorBody }> {
  const res = await fetch(`${base}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body: text,
  });
  return { status: res.status, body: (await res.json()) as ErrorBody };
}

/**
 * A WebSocket hop that allows frames up to `maxPayload` (as a proxy or a client with a smaller
 * limit would): a larger frame from the relay drops the connection, as `ws` does.
 */
async function frameLimitedProxy(target: string, maxPayload: number) {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, maxPayload });
  await new Promise<void>((r) => wss.once("listening", () => r()));
  const stats = { connections: 0, tooBig: 0 };
  wss.on("connection", (down, req) => {
    stats.connections++;
    const up = new WebSocket(`${target.replace(/^http/, "ws")}${req.url ?? "/v1/sync"}`, {
      headers: { authorization: req.headers.authorization ?? "" },
      maxPayload,
    });
    const early: { data: WebSocket.RawData; binary: boolean }[] = [];
    down.on("message", (data, binary) => {
      if (up.readyState === WebSocket.OPEN) up.send(data, { binary });
      else early.push({ data, binary });
    });
    up.on("open", () => {
      for (const m of early.splice(0)) up.send(m.data, { binary: m.binary });
    });
    up.on("message", (data, binary) => {
      if (down.readyState === WebSocket.OPEN) down.send(data, { binary });
    });
    up.on("error", (err) => {
      if (/max payload/i.test(err.message)) stats.tooBig++;
    });
    down.on("error", () => undefined);
    const closeBoth = () => {
      up.terminate();
      down.terminate();
    };
    up.on("close", closeBoth);
    down.on("close", closeBoth);
  });
  const port = (wss.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    stats,
    close: () =>
      new Promise<void>((r) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => r());
      }),
  };
}

describe("sizes end to end: one policy on both sides, pages bounded in bytes", () => {
  const dir = tempDir("tm-sizes-");
  const db = relayDb(`${dir.path}/relay`);
  let key: string;
  let relay: RelayProcess;
  let a: DaemonProcess;
  let late: DaemonProcess | null = null;
  let proxy: Awaited<ReturnType<typeof frameLimitedProxy>> | null = null;

  const onRelay = <T>(method: string, path: string, body?: unknown) =>
    api<T>(relay.url, method, path, body, key);

  beforeAll(async () => {
    // Children inherit it: the relay's page budget and the daemons' push budget.
    process.env.TRIBAL_MEMORY_SYNC_PAGE_BYTES = String(PAGE_BUDGET);
    key = (await relayInit(db)).apiKey;
    relay = await startRelayProcess(db, await freePort());
    a = await startDaemonProcess({
      home: `${dir.path}/a`,
      relayUrl: relay.url,
      apiKey: key,
      instance: "agent@a",
    });
  }, 120_000);

  afterAll(async () => {
    await Promise.all([a?.kill(), late?.kill(), relay?.kill()]);
    await proxy?.close();
    delete process.env.TRIBAL_MEMORY_SYNC_PAGE_BYTES;
    dir.remove();
  });

  it("a 900 KB context, a 10,000-deep context and too many tags are coded 4xx on daemon and relay alike, never stored, never a 500", async () => {
    const sides = [
      {
        name: "daemon",
        call: <T>(m: string, p: string, b?: unknown) => a.call<T>(m, p, b),
        post: (p: string, text: string) => postText(a.url, p, text),
      },
      { name: "relay", call: onRelay, post: (p: string, text: string) => postText(relay.url, p, text, key) },
    ];
    for (const side of sides) {
      const before = (await side.call<{ total_memories: number }>("GET", "/v1/stats")).body.total_memories;
      const big = await side.call<ErrorBody>("POST", "/v1/remember", {
        content: `Big context on the ${side.name}`,
        context: { blob: noise(900_000) },
      });
      expect([side.name, big.status, big.body.error?.code]).toEqual([side.name, 413, "CONTEXT_TOO_LARGE"]);
      const bigString = await side.call<ErrorBody>("POST", "/v1/remember", {
        content: `Big string context on the ${side.name}`,
        context: noise(20_000),
      });
      expect([side.name, bigString.status, bigString.body.error?.code]).toEqual([
        side.name,
        413,
        "CONTEXT_TOO_LARGE",
      ]);
      const deep = await side.post(
        "/v1/remember",
        deepContextBody(`Deep context on the ${side.name}`, 10_000),
      );
      expect([side.name, deep.status, deep.body.error?.code]).toEqual([side.name, 422, "CONTEXT_TOO_DEEP"]);
      const tags = await side.call<ErrorBody>("POST", "/v1/remember", {
        content: `Many tags on the ${side.name}`,
        tags: Array.from({ length: 65 }, (_, i) => `t${i}`),
      });
      expect([side.name, tags.status, tags.body.error?.code]).toEqual([side.name, 422, "VALIDATION_FAILED"]);
      const after = (await side.call<{ total_memories: number }>("GET", "/v1/stats")).body.total_memories;
      expect([side.name, after]).toEqual([side.name, before]);
    }
  });

  it("the largest record the policy allows is accepted by both sides and syncs from the daemon through the relay", async () => {
    const largest = () => ({
      content: noise(32 * 1024),
      // 16 KiB of JSON: the object's braces, key and quotes included.
      context: { notes: noise(16 * 1024 - 20) },
      tags: Array.from({ length: 64 }, (_, i) => `${String(i).padStart(2, "0")}-${noise(97)}`),
      skip_dedup: true,
    });
    const onRelayDirect = await onRelay<{ memory_id: string }>("POST", "/v1/remember", largest());
    expect(onRelayDirect.status).toBe(201);
    const onDaemon = await a.call<{ memory_id: string }>("POST", "/v1/remember", largest());
    expect(onDaemon.status).toBe(201);
    const got = await waitFor("the relay to hold the daemon's largest record", async () => {
      const r = await onRelay<{ tags: string[] }>("GET", `/v1/memories/${onDaemon.body.memory_id}`);
      return r.status === 200 ? r.body : null;
    });
    expect(got.tags).toHaveLength(64);
    const s = (await a.call<Status>("GET", "/v1/sync/status")).body;
    expect(s.last_error).toBeNull();
  });

  it("relay pages stay under the byte budget: HTTP pull walks a log many pages large, every page below the budget", async () => {
    // 110 memories of ~6 KB: with vectors, ~1 MB of log, about ten 96 KiB pages.
    const memories = Array.from({ length: 110 }, (_, i) => ({
      content: `Log filler ${i}: ${noise(6000)}`,
      skip_dedup: true,
    }));
    for (let i = 0; i < memories.length; i += 40) {
      const r = await onRelay("POST", "/v1/remember/batch", { memories: memories.slice(i, i + 40) });
      expect(r.status).toBe(201);
    }
    let cursor = 0;
    let pages = 0;
    let entries = 0;
    for (;;) {
      const res = await fetch(`${relay.url}/v1/sync/pull`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
        body: JSON.stringify({ cursor }),
      });
      const text = await res.text();
      expect(res.status).toBe(200);
      expect(Buffer.byteLength(text)).toBeLessThanOrEqual(PAGE_BUDGET + 1024);
      const page = JSON.parse(text) as { entries: unknown[]; cursor: number; more: boolean };
      expect(page.entries.length).toBeGreaterThan(0);
      pages++;
      entries += page.entries.length;
      cursor = page.cursor;
      if (!page.more) break;
    }
    expect(pages).toBeGreaterThan(5);
    const head = (await onRelay<{ total_memories: number }>("GET", "/v1/stats")).body.total_memories;
    expect(entries).toBeGreaterThanOrEqual(head);
  });

  it("a new daemon behind a 192 KiB frame limit bootstraps the whole log (once: 'Max payload size exceeded' on every reconnect)", async () => {
    proxy = await frameLimitedProxy(relay.url, FRAME_LIMIT);
    const total = (await onRelay<{ total_memories: number }>("GET", "/v1/stats")).body.total_memories;
    expect(total).toBeGreaterThan(100);
    late = await startDaemonProcess({
      home: `${dir.path}/late`,
      relayUrl: proxy.url,
      apiKey: key,
      instance: "agent@late",
    });
    const d = late;
    await waitFor(
      "the new daemon to hold every memory",
      async () => {
        const s = (await d.call<Status>("GET", "/v1/sync/status")).body;
        const n = (await d.call<{ total_memories: number }>("GET", "/v1/stats")).body.total_memories;
        return s.state === "live" && n === total;
      },
      40_000,
      200,
    );
    expect(proxy.stats.tooBig).toBe(0);
    expect(proxy.stats.connections).toBe(1);
  });
});
