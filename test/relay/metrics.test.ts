import { createMemoryDoc, newActorId } from "@tribalmemory/shared/memory/document";
import { encodeBytes } from "@tribalmemory/shared/sync/protocol";
import { sampleMemory } from "@tribalmemory/shared/testing/sample-memory";
import { type RelayDatabase, type RunningRelay, startRelay } from "@tribalmemory/sync-server";
import { api, openTestDatabase } from "@tribalmemory/sync-server/testing";
import pino from "pino";
import { describe, expect, it } from "vitest";
import WebSocket from "ws";
import { useTestRelay, workspaceKey } from "../helpers/relay.ts";

/** One sample of the text format: name, labels, value. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** A strict reader of the Prometheus text format: every line is a comment or a sample. */
function parseExposition(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split("\n")) {
    if (!line) continue;
    const type = /^# TYPE (\S+) (counter|gauge|histogram)$/.exec(line);
    if (type) {
      types.set(type[1], type[2]);
      continue;
    }
    if (line.startsWith("# HELP ")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[l[1]] = l[2];
    samples.push({ name: m[1], labels, value: m[3] === "+Inf" ? Number.POSITIVE_INFINITY : Number(m[3]) });
  }
  return { samples, types };
}

function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    ?.value;
}

function wireChange(content: string) {
  const { change } = createMemoryDoc(sampleMemory({ content }), newActorId());
  return { doc_id: change.docId, hash: change.hash, deps: change.deps, bytes: encodeBytes(change.bytes) };
}

describe("GET /metrics", () => {
  let db: RelayDatabase;
  let relay: RunningRelay;
  let key: string;
  let workspaceId: string;
  let memoryId: string;

  useTestRelay(async (d, r) => {
    db = d;
    relay = r;
    ({ workspaceId, key } = await workspaceKey(db, "metrics-secret-name", ["admin"]));
  });

  it("counts the requests made, by route pattern and status, with latency histograms, and exposes no tenant data", async () => {
    memoryId = (
      await api<{ memory_id: string }>(
        relay.url,
        "POST",
        "/v1/remember",
        { content: "a private memory about the merger" },
        key,
      )
    ).body.memory_id;
    for (let i = 0; i < 3; i++)
      expect((await api(relay.url, "GET", "/v1/stats", undefined, key)).status).toBe(200);
    expect((await api(relay.url, "GET", `/v1/memories/${memoryId}`, undefined, key)).status).toBe(200);
    const missing = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
    expect((await api(relay.url, "GET", `/v1/memories/${missing}`, undefined, key)).status).toBe(404);
    expect((await api(relay.url, "GET", "/v1/nowhere/at/all", undefined, key)).status).toBe(404);
    // Two refused credentials and one missing scope-less key: auth failures by code.
    expect((await api(relay.url, "GET", "/v1/stats", undefined, "tm_live_wrong")).status).toBe(401);
    expect((await api(relay.url, "GET", "/v1/stats")).status).toBe(401);

    const res = await fetch(`${relay.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    const text = await res.text();
    const { samples, types } = parseExposition(text);
    const requests = (route: string, status: string, method = "GET") =>
      value(samples, "tribal_http_requests_total", { method, route, status });

    expect(types.get("tribal_http_requests_total")).toBe("counter");
    expect(requests("/v1/remember", "201", "POST")).toBe(1);
    expect(requests("/v1/stats", "200")).toBe(3);
    expect(requests("/v1/stats", "401")).toBe(2);
    // The pattern, not the URL: both ids fall under one route label.
    expect(requests("/v1/memories/:id", "200")).toBe(1);
    expect(requests("/v1/memories/:id", "404")).toBe(1);
    expect(requests("unmatched", "404")).toBe(1);
    expect(value(samples, "tribal_auth_failures_total", { code: "UNAUTHENTICATED" })).toBe(2);

    expect(types.get("tribal_http_request_duration_seconds")).toBe("histogram");
    const stats = { method: "GET", route: "/v1/stats" };
    expect(value(samples, "tribal_http_request_duration_seconds_count", stats)).toBe(5);
    expect(value(samples, "tribal_http_request_duration_seconds_bucket", { ...stats, le: "+Inf" })).toBe(5);
    const buckets = samples.filter(
      (s) => s.name === "tribal_http_request_duration_seconds_bucket" && s.labels.route === "/v1/stats",
    );
    // Cumulative: never decreasing toward +Inf.
    for (let i = 1; i < buckets.length; i++)
      expect(buckets[i].value).toBeGreaterThanOrEqual(buckets[i - 1].value);

    // Process and pool metrics are there; the embedded database has no pool series.
    expect(value(samples, "process_resident_memory_bytes")).toBeGreaterThan(0);
    expect(value(samples, "tribal_relay_draining")).toBe(0);
    if (db.kind === "postgres") {
      expect(value(samples, "tribal_db_pool_connections", { state: "idle" })).toBeGreaterThanOrEqual(0);
      expect(value(samples, "tribal_db_pool_connections", { state: "waiting" })).toBe(0);
    }

    // Nothing of the tenant: no workspace id, memory id, key, workspace name or content.
    for (const secret of [workspaceId, memoryId, missing, key, "metrics-secret-name", "merger"])
      expect(text).not.toContain(secret);
  });

  it("counts sync pushes and changes by outcome, and open sync sockets", async () => {
    const changes = [wireChange("pushed one"), wireChange("pushed two")];
    const push = (body: unknown) => api(relay.url, "POST", "/v1/sync/push", body, key);
    expect((await push({ device: "dev-1", changes })).status).toBe(200);
    expect((await push({ device: "dev-1", changes })).status).toBe(200);

    const ws = new WebSocket(`${relay.url.replace("http", "ws")}/v1/sync`, {
      headers: { authorization: `Bearer ${key}` },
    });
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    const { samples } = parseExposition(await (await fetch(`${relay.url}/metrics`)).text());
    ws.close();
    expect(value(samples, "tribal_sync_pushes_total")).toBe(2);
    expect(value(samples, "tribal_sync_changes_total", { outcome: "stored" })).toBe(2);
    expect(value(samples, "tribal_sync_changes_total", { outcome: "duplicate" })).toBe(2);
    expect(value(samples, "tribal_sync_sockets_open")).toBe(1);
    expect(value(samples, "tribal_write_queue_depth")).toBe(0);
  });
});

describe("GET /metrics with a metrics token", () => {
  it("refuses a scrape without the token (401 METRICS_TOKEN_REQUIRED) and serves one with it", async () => {
    const db = await openTestDatabase();
    const relay = await startRelay({
      db,
      host: "127.0.0.1",
      port: 0,
      logger: pino({ level: "silent" }),
      metricsToken: "s3cret-token",
    });
    try {
      const scrape = (authorization?: string) =>
        fetch(`${relay.url}/metrics`, { headers: authorization ? { authorization } : {} });
      const none = await scrape();
      expect(none.status).toBe(401);
      expect(((await none.json()) as { error: { code: string } }).error.code).toBe("METRICS_TOKEN_REQUIRED");
      expect((await scrape("Bearer not-it")).status).toBe(401);
      const ok = await scrape("Bearer s3cret-token");
      expect(ok.status).toBe(200);
      const body = await ok.text();
      const { samples } = parseExposition(body);
      // The two refusals were counted as auth failures before this scrape was rendered.
      expect(value(samples, "tribal_auth_failures_total", { code: "METRICS_TOKEN_REQUIRED" })).toBe(2);
      expect(body).not.toContain("s3cret-token");
    } finally {
      await relay.close();
      await db.close();
    }
  });
});
