/**
 * Every daemon route, fuzzed from its zod schema: schema-shaped bodies and queries with edge
 * and wrong values mixed in. Whatever arrives, the daemon never answers 5xx, and every 4xx
 * carries `{error:{code}}`. Bounded runs (FUZZ_RUNS scales them) keep each test well under 20 s.
 */

import { readLocalToken } from "@tribalmemory/shared/config/local-token";
import {
  BundleEntry,
  CorrectBody,
  ExportBody,
  ExportQuery,
  ForgetBody,
  ImportBody,
  ImportJsonlQuery,
  ListQuery,
  RecallBody,
  RememberBatchBody,
  RememberBody,
} from "@tribalmemory/shared/memory/schemas";
import { ContextBody, SessionIngestBody, SessionSearchQuery } from "@tribalmemory/shared/sessions/schemas";
import fc from "fast-check";
import { request } from "undici";
import { afterAll, beforeAll, expect, it } from "vitest";
import { z } from "zod";
import { startTestDaemon, tempHome } from "../helpers/daemon.ts";
import { arbitraryOf, junk, queryOf } from "./zod-arbitrary.ts";

const RUNS = Math.max(1, Math.round(Number(process.env.FUZZ_RUNS ?? 1) * 40));
const SEED = Number(process.env.FUZZ_SEED ?? 8);
const { home, cleanup } = tempHome("tm-fuzz-routes-");
let daemon: Awaited<ReturnType<typeof startTestDaemon>>;
let token: string | null = null;
const ids: string[] = [];

beforeAll(async () => {
  daemon = await startTestDaemon(home);
  token = readLocalToken(home);
  for (let i = 0; i < 5; i++) {
    const r = await daemon.api.post("/v1/remember", {
      content: `fuzz seed memory ${i} about Alice in Paris`,
      tags: ["t"],
    });
    ids.push(r.body.memory_id);
  }
});
afterAll(async () => {
  await daemon?.close();
  cleanup();
});

interface Sent {
  method: "GET" | "POST" | "DELETE";
  path: string;
  body?: string;
  contentType?: string;
}

const failures: string[] = [];
async function send(s: Sent): Promise<void> {
  const res = await request(`${daemon.url}${s.path}`, {
    method: s.method,
    body: s.body,
    headers: {
      ...(s.body !== undefined ? { "content-type": s.contentType ?? "application/json" } : {}),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
  });
  const text = await res.body.text();
  const where = `${s.method} ${s.path.slice(0, 200)} ${String(s.body).slice(0, 300)}`;
  if (res.statusCode >= 500) {
    failures.push(`${res.statusCode} ${where} -> ${text.slice(0, 300)}`);
    throw new Error(`${res.statusCode} for ${where}: ${text.slice(0, 300)}`);
  }
  if (res.statusCode >= 400) {
    let code: unknown;
    try {
      code = JSON.parse(text)?.error?.code;
    } catch {
      code = undefined;
    }
    if (typeof code !== "string")
      throw new Error(`${res.statusCode} without {error:{code}} for ${where}: ${text.slice(0, 300)}`);
  }
}

const idArb = () =>
  fc.oneof(
    fc.constantFrom(...ids),
    fc.uuid(),
    fc.string({ maxLength: 40 }).map((s) => encodeURIComponent(s) || "x"),
    fc.constantFrom("..%2F..", "%00", "01234567-89ab-7def-8123-456789abcdef"),
  );
/** A schema-shaped body, or a body that is not JSON of that shape at all. */
const bodyOf = (schema: z.ZodType) =>
  fc.oneof(
    { weight: 6, arbitrary: arbitraryOf(schema).map((v) => JSON.stringify(v)) },
    { weight: 1, arbitrary: junk().map((v) => JSON.stringify(v)) },
    { weight: 1, arbitrary: fc.string({ maxLength: 60 }) },
  );
const withIds = (schema: z.ZodType, fields: string[]) =>
  fc.tuple(arbitraryOf(schema), idArb(), fc.boolean()).map(([v, id, use]) => {
    if (use && v && typeof v === "object" && !Array.isArray(v))
      for (const f of fields)
        (v as Record<string, unknown>)[f] = decodeURIComponent(id.includes("%") ? "x" : id);
    return JSON.stringify(v);
  });

const check = (arb: fc.Arbitrary<Sent>, runs = RUNS) =>
  fc.assert(fc.asyncProperty(arb, send), { numRuns: runs, seed: SEED, endOnFailure: true });

it("writes (remember, batch, correct, forget, delete) never answer 5xx; every 4xx has a code", async () => {
  await check(bodyOf(RememberBody).map((body) => ({ method: "POST", path: "/v1/remember", body })));
  await check(
    bodyOf(RememberBatchBody).map((body) => ({ method: "POST", path: "/v1/remember/batch", body })),
  );
  await check(
    withIds(CorrectBody, ["original_id"]).map((body) => ({ method: "POST", path: "/v1/correct", body })),
  );
  await check(
    withIds(ForgetBody, ["memory_id"]).map((body) => ({ method: "POST", path: "/v1/forget", body })),
  );
  await check(
    fc
      .tuple(
        fc.constantFrom("/v1/forget/", "/v1/memories/"),
        idArb(),
        fc.constantFrom("", "?purge=true", "?purge=1"),
      )
      .map(([p, id, q]) => ({ method: "DELETE" as const, path: `${p}${id}${q}` })),
  );
  expect(failures).toEqual([]);
}, 60_000);

it("reads (recall, list, get, entities, graph, stats) never answer 5xx; every 4xx has a code", async () => {
  await check(bodyOf(RecallBody).map((body) => ({ method: "POST", path: "/v1/recall", body })));
  await check(arbitraryOf(RecallBody).map((q) => ({ method: "GET", path: `/v1/recall${queryOf(q)}` })));
  await check(arbitraryOf(ListQuery).map((q) => ({ method: "GET", path: `/v1/memories${queryOf(q)}` })));
  await check(
    fc
      .tuple(fc.constantFrom("/v1/memories/", "/v1/memory/"), idArb())
      .map(([p, id]) => ({ method: "GET" as const, path: `${p}${id}` })),
  );
  const EntityQueries = z.object({
    limit: z.number().int().min(1).max(1000).optional(),
    prefix: z.string().max(200).optional(),
    type: z.string().max(40).optional(),
    hops: z.number().int().min(1).max(10).optional(),
    entity: z.string().min(1).max(500).optional(),
    depth: z.number().int().optional(),
  });
  await check(
    fc
      .tuple(
        fc.constantFrom(
          "/v1/entities",
          "/v1/graph",
          "/v1/entities/alice/memories",
          "/v1/entities/%C3%A9/memories",
        ),
        arbitraryOf(EntityQueries),
      )
      .map(([p, q]) => ({ method: "GET" as const, path: `${p}${queryOf(q)}` })),
  );
  await check(
    fc
      .constantFrom("/v1/health", "/v1/stats", "/v1/sync/status", "/v1/sessions/stats", "/v1/nowhere")
      .map((path) => ({ method: "GET" as const, path })),
    10,
  );
  expect(failures).toEqual([]);
}, 60_000);

it("export and import (bundle and JSONL) never answer 5xx; every 4xx has a code", async () => {
  await check(
    bodyOf(ExportBody).map((body) => ({ method: "POST", path: "/v1/export", body })),
    Math.ceil(RUNS / 2),
  );
  await check(
    arbitraryOf(ExportQuery).map((q) => ({ method: "GET", path: `/v1/export${queryOf(q)}` })),
    Math.ceil(RUNS / 2),
  );
  await check(bodyOf(ImportBody).map((body) => ({ method: "POST", path: "/v1/import", body })));
  const line = fc.oneof(
    { weight: 5, arbitrary: arbitraryOf(BundleEntry).map((v) => JSON.stringify(v)) },
    {
      weight: 1,
      arbitrary: arbitraryOf(z.object({ manifest: z.object({ schema_version: z.string() }) })).map((v) =>
        JSON.stringify(v),
      ),
    },
    { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
  );
  await check(
    fc
      .tuple(
        fc.array(line, { maxLength: 6 }),
        arbitraryOf(ImportJsonlQuery),
        fc.constantFrom("application/x-ndjson", "application/jsonl"),
      )
      .map(([lines, q, contentType]) => ({
        method: "POST" as const,
        path: `/v1/import${queryOf(q)}`,
        body: lines.join("\n"),
        contentType,
      })),
  );
  expect(failures).toEqual([]);
}, 60_000);

it("sessions and context never answer 5xx; every 4xx has a code; odd content types are refused with a code", async () => {
  await check(
    bodyOf(SessionIngestBody).map((body) => ({ method: "POST", path: "/v1/sessions/ingest", body })),
  );
  await check(
    arbitraryOf(SessionSearchQuery).map((q) => ({ method: "GET", path: `/v1/sessions/search${queryOf(q)}` })),
  );
  await check(bodyOf(ContextBody).map((body) => ({ method: "POST", path: "/v1/context", body })));
  await check(
    fc
      .tuple(
        fc.constantFrom("/v1/remember", "/v1/recall", "/v1/import", "/v1/forget"),
        fc.constantFrom(
          "text/plain",
          "application/x-www-form-urlencoded",
          "multipart/form-data; boundary=x",
          "application/json; charset=latin1",
          "application/x-ndjson",
        ),
        fc.string({ maxLength: 80 }),
      )
      .map(([path, contentType, body]) => ({ method: "POST" as const, path, body, contentType })),
  );
  expect(failures).toEqual([]);
}, 60_000);

// Found by this fuzzer: a malformed percent-escape in a path was answered by Fastify's own
// 400 `{"error":"Bad Request","code":"FST_ERR_BAD_URL",…}` — `error` a string, not `{code}` —
// because it never reached the shared error handler (now `answerFrameworkError`).
it("a malformed percent-escape in a path answers 400 with {error:{code}}", async () => {
  for (const path of ["/v1/memories/%FF", "/v1/entities/%E0%A4%A/memories", "/v1/forget/%"]) {
    const res = await request(`${daemon.url}${path}`, {
      method: path.startsWith("/v1/forget") ? "DELETE" : "GET",
    });
    const body = (await res.body.json()) as { error?: { code?: unknown } };
    expect(res.statusCode).toBe(400);
    expect(typeof body.error?.code).toBe("string");
  }
});
