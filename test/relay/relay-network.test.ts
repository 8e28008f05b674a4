import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { createHashingProvider } from "@tribalmemory/shared/embed/hashing";
import {
  createApiKey,
  createWorkspace,
  type RelayDatabase,
  type RunningRelay,
  startRelay,
} from "@tribalmemory/sync-server";
import { AuthThrottle } from "@tribalmemory/sync-server/auth/auth-throttle";
import { api, openTestDatabase } from "@tribalmemory/sync-server/testing";
import pino from "pino";
import { Agent, request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { makeSelfSignedCertificate } from "../helpers/tls.ts";

/**
 * The relay on the network (issue 8, findings 4 and 6): TLS on one port for HTTPS and WSS,
 * plaintext only on loopback or behind a declared proxy, the real bound address in the log,
 * and a throttle on failed authentications for HTTP and the WebSocket upgrade.
 */

const embedder = {
  provider: createHashingProvider(64),
  calibration: { floor: 0.1, ceiling: 0.9, weight: 0.3 },
  dedupCosine: null,
};

function logSink(): { logger: pino.Logger; lines: () => Record<string, unknown>[] } {
  const out: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      out.push(...chunk.toString().split("\n").filter(Boolean));
      cb();
    },
  });
  return { logger: pino({ level: "info" }, stream), lines: () => out.map((l) => JSON.parse(l)) };
}

/** A WebSocket upgrade's outcome: "open", or the HTTP status and headers of the refusal. */
function upgrade(
  url: string,
  options: WebSocket.ClientOptions,
): Promise<{ status: number | "open"; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options);
    ws.on("open", () => {
      ws.close();
      resolve({ status: "open", headers: {}, body: "" });
    });
    ws.on("unexpected-response", (_req, res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    ws.on("error", (err) => reject(err));
  });
}

const relays: RunningRelay[] = [];
let db: RelayDatabase;
let adminKey: string;
const tmp = mkdtempSync(join(tmpdir(), "tm-relay-net-"));

beforeAll(async () => {
  db = await openTestDatabase();
  const ws = await createWorkspace(db, { name: "net" });
  adminKey = (await createApiKey(db, ws.workspaceId, { name: "admin", scopes: ["admin"] })).key;
}, 60_000);

afterAll(async () => {
  await Promise.all(relays.map((r) => r.close()));
  await db?.close();
  rmSync(tmp, { recursive: true, force: true });
});

async function relay(options: Parameters<typeof startRelay>[0] = {}): Promise<RunningRelay> {
  const r = await startRelay({ db, port: 0, logger: pino({ level: "silent" }), embedder, ...options });
  relays.push(r);
  return r;
}

describe("TLS and plaintext", () => {
  let cert: string;
  let key: string;
  beforeAll(() => {
    // A self-signed certificate made now, valid for 127.0.0.1 and localhost.
    makeSelfSignedCertificate(tmp);
    cert = readFileSync(join(tmp, "cert.pem"), "utf8");
    key = readFileSync(join(tmp, "key.pem"), "utf8");
  });

  it("serves HTTPS and WSS on one port with --tls-cert/--tls-key, trusted through the test's own CA", async () => {
    const { logger, lines } = logSink();
    const r = await relay({ host: "127.0.0.1", tls: { cert, key }, logger });
    expect(r.url).toBe(`https://127.0.0.1:${r.port}`);
    const dispatcher = new Agent({ connect: { ca: cert } });
    const res = await request(`${r.url}/v1/workspace`, {
      dispatcher,
      headers: { authorization: `Bearer ${adminKey}` },
    });
    expect(res.statusCode).toBe(200);
    expect(await res.body.json()).toMatchObject({ relay: true, protocol: "https" });
    const ws = await upgrade(`wss://127.0.0.1:${r.port}/v1/sync`, {
      ca: cert,
      headers: { authorization: `Bearer ${adminKey}` },
    });
    expect(ws.status).toBe("open");
    // Plain HTTP to the TLS port gets nowhere, and a client that does not trust the cert is refused.
    await expect(fetch(`http://127.0.0.1:${r.port}/v1/health`)).rejects.toThrow();
    await expect(request(`${r.url}/v1/health`)).rejects.toThrow(/self.signed|certificate/i);
    expect(lines().find((l) => l.msg === "relay listening")).toMatchObject({
      url: r.url,
      address: "127.0.0.1",
      tls: true,
    });
  });

  it("refuses plaintext on a non-loopback address (TLS_REQUIRED), before opening anything", async () => {
    await expect(relay({ host: "0.0.0.0" })).rejects.toMatchObject({ code: "TLS_REQUIRED" });
    await expect(relay({ host: "::" })).rejects.toMatchObject({ code: "TLS_REQUIRED" });
  });

  it("defaults to 127.0.0.1, so a start with no flags is plaintext on loopback only", async () => {
    const r = await relay({});
    expect(r.address).toBe("127.0.0.1");
    expect(r.url).toBe(`http://127.0.0.1:${r.port}`);
  });

  it("logs the address it is really bound to: 0.0.0.0 behind a proxy, not 127.0.0.1", async () => {
    const { logger, lines } = logSink();
    const r = await relay({ host: "0.0.0.0", behindProxy: true, logger });
    const listening = lines().find((l) => l.msg === "relay listening");
    expect(listening).toMatchObject({ address: "0.0.0.0", port: r.port, behind_proxy: true, tls: false });
    expect(listening?.url).toBe(`http://0.0.0.0:${r.port}`);
    expect(r.url).toBe(`http://0.0.0.0:${r.port}`);
  });

  it("behind a proxy trusts X-Forwarded-Proto; exposed directly it does not", async () => {
    const proxied = await relay({ host: "127.0.0.1", behindProxy: true });
    const direct = await relay({ host: "127.0.0.1" });
    const health = async (base: string) =>
      (
        (await (
          await fetch(`${base}/v1/workspace`, {
            headers: { authorization: `Bearer ${adminKey}`, "x-forwarded-proto": "https" },
          })
        ).json()) as { protocol: string }
      ).protocol;
    expect(await health(proxied.url)).toBe("https");
    expect(await health(direct.url)).toBe("http");
  });
});

describe("failed-authentication throttle", () => {
  const bad = "tm_live_not-a-real-key-0000000000000000000000000";

  it("after 10 bad keys in a minute, answers 429 AUTH_RATE_LIMITED with Retry-After, also to a good key and to a WebSocket upgrade", async () => {
    const r = await relay({ host: "127.0.0.1" });
    for (let i = 0; i < 10; i++) {
      expect((await api(r.url, "GET", "/v1/stats", undefined, bad)).status).toBe(401);
    }
    const res = await fetch(`${r.url}/v1/stats`, { headers: { authorization: `Bearer ${bad}` } });
    expect(res.status).toBe(429);
    const retry = Number(res.headers.get("retry-after"));
    expect(retry).toBeGreaterThanOrEqual(1);
    expect(retry).toBeLessThanOrEqual(60);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("AUTH_RATE_LIMITED");
    // The address is refused as a whole: a scanner cannot learn that one of its guesses was right.
    expect((await api(r.url, "GET", "/v1/stats", undefined, adminKey)).status).toBe(429);
    const ws = await upgrade(`ws://127.0.0.1:${r.port}/v1/sync`, {
      headers: { authorization: `Bearer ${adminKey}` },
    });
    expect(ws.status).toBe(429);
    expect(Number(ws.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    expect(JSON.parse(ws.body).error.code).toBe("AUTH_RATE_LIMITED");
    // Exposed directly, a forged X-Forwarded-For does not buy a fresh allowance.
    const forged = await fetch(`${r.url}/v1/stats`, {
      headers: { authorization: `Bearer ${bad}`, "x-forwarded-for": "203.0.113.9" },
    });
    expect(forged.status).toBe(429);
  });

  it("failed WebSocket upgrades count too", async () => {
    const r = await relay({ host: "127.0.0.1" });
    for (let i = 0; i < 10; i++) {
      const ws = await upgrade(`ws://127.0.0.1:${r.port}/v1/sync`, {
        headers: { authorization: `Bearer ${bad}` },
      });
      expect(ws.status).toBe(401);
    }
    expect((await api(r.url, "GET", "/v1/stats", undefined, adminKey)).status).toBe(429);
  });

  it("behind a proxy, counts per forwarded client address (the entry the proxy appended)", async () => {
    const r = await relay({ host: "127.0.0.1", behindProxy: true });
    const call = (xff: string, key: string) =>
      fetch(`${r.url}/v1/stats`, { headers: { authorization: `Bearer ${key}`, "x-forwarded-for": xff } });
    for (let i = 0; i < 10; i++) expect((await call("198.51.100.7", bad)).status).toBe(401);
    expect((await call("198.51.100.7", bad)).status).toBe(429);
    // A forged entry before the proxy's own changes nothing.
    expect((await call("192.0.2.1, 198.51.100.7", adminKey)).status).toBe(429);
    // Another client behind the same proxy is not punished.
    expect((await call("198.51.100.8", adminKey)).status).toBe(200);
  });

  it("slides its window, and forgets the least recently failing address past its bound", () => {
    let now = 0;
    const t = new AuthThrottle({ limit: 3, windowMs: 60_000, maxAddresses: 2, now: () => now });
    for (let i = 0; i < 3; i++) {
      t.fail("a");
      now += 10_000;
    }
    // Failures at 0, 10 and 20 s; now 30 s: blocked until the first expires at 60 s.
    expect(t.retryAfter("a")).toBe(30);
    now = 60_001;
    expect(t.retryAfter("a")).toBeNull();
    t.fail("b");
    t.fail("c");
    t.fail("d");
    expect(t.size).toBe(2);
  });
});
