import { spawn } from "node:child_process";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiClient, CLI_DIR, spawnDaemon, startTestDaemon, tempHome } from "../helpers/daemon.ts";

type Daemon = Awaited<ReturnType<typeof startTestDaemon>>;

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: any;
}

/**
 * A request with full control of Host, Origin and Content-Type, as a browser or `curl` sends
 * them (undici's helpers would fill in or normalise some of these).
 */
function raw(
  url: string,
  options: { method?: string; path: string; headers?: Record<string, string>; body?: string },
): Promise<RawResponse> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: u.hostname.replace(/^\[|\]$/g, ""),
        port: Number(u.port),
        method: options.method ?? "GET",
        path: options.path,
        headers: {
          ...(options.body !== undefined ? { "content-length": Buffer.byteLength(options.body) } : {}),
          ...options.headers,
        },
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (d) => (text += d));
        res.on("end", () => {
          let json: unknown;
          try {
            json = text ? JSON.parse(text) : undefined;
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
      },
    );
    req.on("error", reject);
    req.end(options.body);
  });
}

const tokenOf = (home: string) => readFileSync(join(home, "local-token"), "utf8").trim();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("the localhost daemon refuses web pages", () => {
  let home: ReturnType<typeof tempHome>;
  let d: Daemon;
  let token: string;
  let secret: string;
  beforeAll(async () => {
    home = tempHome();
    writeFileSync(
      join(home.home, "config.yaml"),
      "server:\n  allowed_hosts: [tribal.internal]\n  allowed_origins: ['https://console.example']\n",
    );
    d = await startTestDaemon(home.home);
    token = tokenOf(home.home);
    secret = `the staging database password is hunter2-${Date.now()}`;
    const r = await raw(d.url, {
      method: "POST",
      path: "/v1/remember",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ content: secret }),
    });
    expect(r.status).toBe(201);
  });
  afterAll(async () => {
    await d.close();
    home.cleanup();
  });

  it("creates a 256-bit local token at first start, readable by the owner only", () => {
    const path = join(home.home, "local-token");
    expect(token).toMatch(/^[0-9a-f]{64}$/);
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it("refuses a rebound Host name (DNS rebinding) even on the export route, with HOST_NOT_ALLOWED", async () => {
    const auths: Array<Record<string, string>> = [{}, { authorization: `Bearer ${token}` }];
    for (const headers of auths) {
      const r = await raw(d.url, {
        path: "/v1/export?format=jsonl",
        headers: { host: `attacker.example:${d.port}`, ...headers },
      });
      expect(r.status).toBe(421);
      expect(r.json.error.code).toBe("HOST_NOT_ALLOWED");
      expect(r.text).not.toContain("hunter2");
    }
    const health = await raw(d.url, { path: "/v1/health", headers: { host: "attacker.example" } });
    expect(health.status).toBe(421);
  });

  it("accepts loopback Host names and addresses, with or without port, and configured ones", async () => {
    for (const host of [
      `127.0.0.1:${d.port}`,
      "127.0.0.1",
      `127.1.2.3:${d.port}`,
      `localhost:${d.port}`,
      "LOCALHOST",
      `[::1]:${d.port}`,
      "[::1]",
      "tribal.internal",
      `tribal.internal:${d.port}`,
    ]) {
      const r = await raw(d.url, { path: "/v1/health", headers: { host } });
      expect([host, r.status]).toEqual([host, 200]);
    }
    for (const host of ["127.0.0.1.attacker.example", "localhost.attacker.example", "[::2]", "0x7f.1"]) {
      const r = await raw(d.url, { path: "/v1/health", headers: { host } });
      expect([host, r.status]).toEqual([host, 421]);
    }
  });

  it("refuses a foreign Origin on every route, token or not, and sends no CORS headers", async () => {
    const cases: Array<{ method: string; path: string; body?: string }> = [
      { method: "GET", path: "/v1/health" },
      { method: "GET", path: "/v1/recall?query=password" },
      { method: "POST", path: "/v1/recall", body: '{"query":"password"}' },
      { method: "POST", path: "/v1/remember", body: '{"content":"planted by a web page"}' },
      { method: "GET", path: "/v1/export?format=jsonl" },
      { method: "OPTIONS", path: "/v1/remember" },
      { method: "GET", path: "/v1/no-such-route" },
    ];
    for (const origin of ["https://evil.example", "null", `http://localhost:${d.port + 1}`]) {
      for (const c of cases) {
        const r = await raw(d.url, {
          method: c.method,
          path: c.path,
          body: c.body,
          headers: {
            origin,
            authorization: `Bearer ${token}`,
            ...(c.body ? { "content-type": "application/json" } : {}),
          },
        });
        expect([origin, c.method, c.path, r.status]).toEqual([origin, c.method, c.path, 403]);
        expect(r.json.error.code).toBe("ORIGIN_NOT_ALLOWED");
        expect(r.headers["access-control-allow-origin"]).toBeUndefined();
        expect(r.text).not.toContain("hunter2");
      }
    }
    const planted = await raw(d.url, { path: "/v1/recall?query=planted" });
    expect(planted.json.results).toHaveLength(0);
  });

  it("refuses a cross-site browser request that carries no Origin (Sec-Fetch-Site)", async () => {
    const r = await raw(d.url, {
      path: "/v1/recall?query=password",
      headers: { "sec-fetch-site": "cross-site", "sec-fetch-mode": "no-cors" },
    });
    expect(r.status).toBe(403);
    expect(r.json.error.code).toBe("ORIGIN_NOT_ALLOWED");
  });

  it("accepts its own loopback origin and configured origins, still without CORS headers", async () => {
    for (const origin of [
      `http://127.0.0.1:${d.port}`,
      `http://localhost:${d.port}`,
      "https://console.example",
    ]) {
      const r = await raw(d.url, { path: "/v1/health", headers: { origin } });
      expect([origin, r.status]).toEqual([origin, 200]);
      expect(r.headers["access-control-allow-origin"]).toBeUndefined();
    }
  });

  it("refuses non-JSON content types on JSON routes with 415 and never parses text/plain", async () => {
    const cases: Array<[string, string, string]> = [
      ["/v1/remember", "text/plain", '{"content":"text/plain smuggled fact"}'],
      ["/v1/remember", "application/x-www-form-urlencoded", "content=form+smuggled+fact"],
      ["/v1/remember", "multipart/form-data; boundary=x", "--x--"],
      ["/v1/remember", "application/x-ndjson", '{"content":"ndjson smuggled fact"}'],
      ["/v1/remember", "application/json; a=b", '{"content":"parameter smuggled fact"}'],
      ["/v1/import", "text/plain", '{"manifest":{}}\n'],
      ["/v1/import", "text/plain; a=ndjson", '{"manifest":{}}\n'],
      ["/v1/import", "application/json; a=ndjson", '{"manifest":{}}\n'],
      ["/v1/recall", "text/plain", '{"query":"x"}'],
    ];
    for (const [path, type, body] of cases) {
      const r = await raw(d.url, {
        method: "POST",
        path,
        body,
        headers: { "content-type": type, authorization: `Bearer ${token}` },
      });
      expect([path, type, r.status]).toEqual([path, type, 415]);
      expect(r.json.error.code).toBe("UNSUPPORTED_MEDIA_TYPE");
    }
    const noType = await raw(d.url, { method: "POST", path: "/v1/remember", body: '{"content":"untyped"}' });
    expect(noType.status).toBe(415);
    const smuggled = await raw(d.url, { path: "/v1/recall?query=smuggled" });
    expect(smuggled.json.results).toHaveLength(0);
    const ok = await raw(d.url, {
      method: "POST",
      path: "/v1/remember",
      body: '{"content":"typed with a charset"}',
      headers: { "content-type": "application/json; charset=UTF-8" },
    });
    expect(ok.status).toBe(201);
  });

  it("requires the local token for export and import, as Bearer or X-Tribal-Token", async () => {
    const routes = [
      { method: "GET", path: "/v1/export?format=jsonl" },
      { method: "POST", path: "/v1/export", body: "{}", type: "application/json" },
      {
        method: "POST",
        path: "/v1/import?dry_run=true",
        body: '{"manifest":{"format":"tribalmemory"}}\n',
        type: "application/x-ndjson",
      },
    ];
    for (const route of routes) {
      const auths: Array<Record<string, string>> = [
        {},
        { authorization: `Bearer ${"0".repeat(64)}` },
        { "x-tribal-token": token.slice(0, 63) },
        { authorization: token },
      ];
      for (const auth of auths) {
        const r = await raw(d.url, {
          method: route.method,
          path: route.path,
          body: route.body,
          headers: { ...(route.type ? { "content-type": route.type } : {}), ...auth },
        });
        expect([route.path, r.status]).toEqual([route.path, 401]);
        expect(r.json.error.code).toBe("LOCAL_TOKEN_REQUIRED");
        expect(r.json.error.message).toContain("local-token");
        expect(r.text).not.toContain("hunter2");
      }
    }
    const bearer = await raw(d.url, {
      path: "/v1/export?format=jsonl",
      headers: { authorization: `Bearer ${token}` },
    });
    expect(bearer.status).toBe(200);
    expect(bearer.text).toContain("hunter2");
    const header = await raw(d.url, {
      method: "POST",
      path: "/v1/export",
      body: "{}",
      headers: { "content-type": "application/json", "x-tribal-token": token },
    });
    expect(header.status).toBe(200);
    expect(header.json.memory_count).toBeGreaterThan(0);
  });

  it("keeps Python TribalMemory's token-less calls working on loopback", async () => {
    const py = apiClient(d.url); // sends no token, like the Python client
    const r = await py.post("/v1/remember", { content: "Python clients keep working without a token" });
    expect(r.status).toBe(201);
    const id = r.body.memory_id as string;
    expect((await py.post("/v1/recall", { query: "python clients token" })).status).toBe(200);
    expect((await py.get("/v1/recall?query=python")).status).toBe(200);
    expect((await py.get(`/v1/memory/${id}`)).status).toBe(200);
    expect((await py.get(`/v1/memories/${id}`)).status).toBe(200);
    expect((await py.get("/v1/health")).status).toBe(200);
    expect((await py.get("/v1/stats")).status).toBe(200);
    const fixed = await py.post("/v1/correct", {
      original_id: id,
      corrected_content: "Python clients keep working without a token, on loopback",
    });
    expect(fixed.status).toBe(201);
    expect((await py.post("/v1/forget", { memory_id: fixed.body.memory_id })).status).toBe(200);
    const other = await py.post("/v1/remember", { content: "another fact to forget by path" });
    expect((await py.del(`/v1/forget/${other.body.memory_id}`)).status).toBe(200);
  });
});

describe("stopping the daemon", () => {
  it("a text/plain POST from a web page cannot stop it; only the local token can", async () => {
    const h = tempHome();
    try {
      const child = await spawnDaemon(h.home);
      const exited = new Promise<number | null>((r) => child.child.once("exit", (code) => r(code)));
      const attempts: Array<[Record<string, string>, number, string]> = [
        [{ origin: "https://evil.example", "content-type": "text/plain" }, 403, "ORIGIN_NOT_ALLOWED"],
        [{ "content-type": "text/plain" }, 401, "LOCAL_TOKEN_REQUIRED"],
        [{ "content-type": "application/json" }, 401, "LOCAL_TOKEN_REQUIRED"],
      ];
      for (const [headers, status, code] of attempts) {
        const r = await raw(child.url, { method: "POST", path: "/v1/shutdown", body: "x", headers });
        expect([headers, r.status, r.json?.error?.code]).toEqual([headers, status, code]);
      }
      await sleep(300);
      expect(child.child.exitCode).toBeNull();
      expect((await raw(child.url, { path: "/v1/health" })).status).toBe(200);
      const ok = await raw(child.url, {
        method: "POST",
        path: "/v1/shutdown",
        headers: { authorization: `Bearer ${tokenOf(h.home)}` },
      });
      expect(ok.status).toBe(200);
      expect(await exited).toBe(0);
    } finally {
      h.cleanup();
    }
  });
});

/** Run tribalmemoryd until it exits (or `ms` pass); what it wrote to stderr. */
function runDaemonToExit(
  home: string,
  args: string[],
  ms = 15_000,
): Promise<{ code: number | null; stderr: string; listening: boolean }> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [join(CLI_DIR, "tribalmemoryd.ts"), "--port", "0", "--embedding", "hashing", ...args],
      { env: { ...process.env, TRIBAL_MEMORY_HOME: home }, stdio: ["ignore", "ignore", "pipe"] },
    );
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGTERM"), ms);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, listening: stderr.includes("tribalmemoryd listening") });
    });
  });
}

describe("listening off loopback", () => {
  it("refuses --host 0.0.0.0 unless the token is required, and says how", async () => {
    const h = tempHome();
    try {
      const r = await runDaemonToExit(h.home, ["--host", "0.0.0.0"]);
      expect(r.listening).toBe(false);
      expect(r.code).not.toBe(0);
      expect(r.code).not.toBeNull();
      expect(r.stderr).toContain("NON_LOOPBACK_WITHOUT_TOKEN");
      expect(r.stderr).toContain("--require-token");
      expect(r.stderr).toContain("require_token");
      expect(existsSync(join(h.home, "data", "daemon.json"))).toBe(false);
    } finally {
      h.cleanup();
    }
  });

  it("with --require-token, every route needs the token", async () => {
    const h = tempHome();
    try {
      const d = await spawnDaemon(h.home, ["--host", "0.0.0.0", "--require-token"]);
      try {
        const port = new URL(d.url).port;
        const url = `http://127.0.0.1:${port}`;
        const token = tokenOf(h.home);
        for (const path of ["/v1/health", "/v1/stats", "/v1/recall?query=x", "/v1/memories"]) {
          const r = await raw(url, { path });
          expect([path, r.status]).toEqual([path, 401]);
          expect(r.json.error.code).toBe("LOCAL_TOKEN_REQUIRED");
          expect((await raw(url, { path, headers: { "x-tribal-token": token } })).status).toBe(200);
        }
        const remember = await raw(url, {
          method: "POST",
          path: "/v1/remember",
          body: '{"content":"no token, no write"}',
          headers: { "content-type": "application/json" },
        });
        expect(remember.status).toBe(401);
        // The CLI reads the token file itself.
        const { runCli } = await import("../helpers/daemon.ts");
        const stats = await runCli(h.home, ["--url", url, "stats"]);
        expect(stats.code).toBe(0);
      } finally {
        d.child.kill("SIGTERM");
        await new Promise((r) => d.child.once("exit", r));
      }
    } finally {
      h.cleanup();
    }
  });
});
