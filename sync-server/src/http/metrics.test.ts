import Fastify from "fastify";
import { describe, expect, it } from "vitest";
import { RelayMetrics } from "../metrics/relay-metrics.ts";
import { installMetrics } from "./metrics.ts";

const idle = {
  openSockets: () => 0,
  syncBacklog: () => ({ bufferedBytes: 0, unappliedBatches: 0 }),
  pendingWrites: () => 0,
  pool: () => null,
  draining: () => false,
};

/** `name{labels} value` lines of one metric, as a map from the label text to the value. */
function series(text: string, name: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    const m = new RegExp(`^${name}(?:\\{(.*)\\})? (\\S+)$`).exec(line);
    if (m) out.set(m[1] ?? "", Number(m[2]));
  }
  return out;
}

describe("quota refusals", () => {
  it("are counted by resource from the error body's code, whatever route answered it", async () => {
    const metrics = new RelayMetrics("test", idle);
    const app = Fastify();
    installMetrics(app, metrics, null);
    // The answers of the plans' checks: 402 QUOTA_EXCEEDED with details.resource, 429 QUERY_QUOTA_EXCEEDED.
    app.post("/v1/remember", async (_req, reply) =>
      reply
        .code(402)
        .send({ error: { code: "QUOTA_EXCEEDED", message: "…", details: { resource: "memories" } } }),
    );
    app.post("/v1/recall", async (_req, reply) =>
      reply.code(429).send({ error: { code: "QUERY_QUOTA_EXCEEDED", message: "…" } }),
    );
    app.post("/v1/agents", async (_req, reply) =>
      reply.code(402).send({
        error: { code: "QUOTA_EXCEEDED", message: "…", details: { resource: "Agents; a free-text value" } },
      }),
    );
    try {
      for (let i = 0; i < 2; i++) await app.inject({ method: "POST", url: "/v1/remember" });
      for (let i = 0; i < 3; i++) await app.inject({ method: "POST", url: "/v1/recall" });
      await app.inject({ method: "POST", url: "/v1/agents" });
      const text = (await app.inject({ method: "GET", url: "/metrics" })).body;
      expect(series(text, "tribal_quota_refusals_total")).toEqual(
        new Map([
          ['resource="memories"', 2],
          ['resource="queries"', 3],
          // Free text never becomes a label value.
          ['resource="other"', 1],
        ]),
      );
      expect(
        series(text, "tribal_http_requests_total").get('method="POST",route="/v1/recall",status="429"'),
      ).toBe(3);
    } finally {
      await app.close();
      metrics.close();
    }
  });

  it("escapes label values and keeps histogram buckets cumulative", async () => {
    const metrics = new RelayMetrics('v"1\\2', idle);
    metrics.observeRequest("GET", "/v1/x", 200, 0.003, null);
    metrics.observeRequest("GET", "/v1/x", 200, 0.07, null);
    metrics.observeRequest("GET", "/v1/x", 200, 42, null);
    metrics.observeRequest("BREW", "/v1/x", 418, 0.001, null);
    const text = metrics.registry.render();
    metrics.close();
    expect(text).toContain('tribal_relay_info{version="v\\"1\\\\2"} 1');
    const buckets = series(text, "tribal_http_request_duration_seconds_bucket");
    expect(buckets.get('method="GET",route="/v1/x",le="0.005"')).toBe(1);
    expect(buckets.get('method="GET",route="/v1/x",le="0.1"')).toBe(2);
    expect(buckets.get('method="GET",route="/v1/x",le="10"')).toBe(2);
    expect(buckets.get('method="GET",route="/v1/x",le="+Inf"')).toBe(3);
    expect(
      series(text, "tribal_http_request_duration_seconds_sum").get('method="GET",route="/v1/x"'),
    ).toBeCloseTo(42.073);
    // An unknown method is one bounded label, not one series per verb a client invents.
    expect(series(text, "tribal_http_requests_total").get('method="OTHER",route="/v1/x",status="418"')).toBe(
      1,
    );
  });
});
