import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestDaemon, tempHome } from "../helpers/daemon.ts";

type Daemon = Awaited<ReturnType<typeof startTestDaemon>>;

describe("daemon /v1 API", () => {
  let home: ReturnType<typeof tempHome>;
  let d: Daemon;
  beforeAll(async () => {
    home = tempHome();
    d = await startTestDaemon(home.home);
  });
  afterAll(async () => {
    await d.close();
    home.cleanup();
  });

  const count = async () => (await d.api.get("/v1/stats")).body.total_memories as number;

  it("remembers with 201 and returns TribalMemory's fields", async () => {
    const r = await d.api.post("/v1/remember", {
      content: "The billing-service talks to Postgres 16 through pgbouncer",
      source_type: "user_explicit",
      tags: ["infra"],
      context: "from the infra review",
      source_instance: "claude-code@laptop",
    });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ success: true, duplicate_of: null });
    expect(r.body.memory_id).toMatch(/^[0-9a-f-]{36}$/);
    const got = await d.api.get(`/v1/memory/${r.body.memory_id}`);
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({
      id: r.body.memory_id,
      content: "The billing-service talks to Postgres 16 through pgbouncer",
      source_type: "user_explicit",
      source_instance: "claude-code@laptop",
      tags: ["infra"],
      context: "from the infra review",
      confidence: 1,
      supersedes: null,
    });
    expect((await d.api.get(`/v1/memories/${r.body.memory_id}`)).body.id).toBe(r.body.memory_id);
  });

  it("accepts context as an object and source_instance from a header", async () => {
    const r = await d.api.post(
      "/v1/remember",
      { content: "Deploys go out on Tuesdays", context: { file: "docs/release.md", line: 4 } },
      { "x-tribal-source-instance": "codex@server" },
    );
    expect(r.status).toBe(201);
    expect(r.body.memory).toMatchObject({
      context: { file: "docs/release.md", line: 4 },
      source_instance: "codex@server",
      source_type: "auto_capture",
    });
  });

  it("answers a duplicate with 200, duplicate_of and merged tags", async () => {
    const a = await d.api.post("/v1/remember", {
      content: "Alice prefers tabs over spaces.",
      tags: ["style"],
    });
    const b = await d.api.post("/v1/remember", {
      content: "alice prefers TABS over spaces",
      tags: ["people"],
    });
    expect(b.status).toBe(200);
    expect(b.body).toMatchObject({
      success: true,
      memory_id: a.body.memory_id,
      duplicate_of: a.body.memory_id,
      match: "exact",
    });
    expect(b.body.memory.tags).toEqual(["people", "style"]);
    const skip = await d.api.post("/v1/remember", {
      content: "alice prefers TABS over spaces",
      skip_dedup: true,
    });
    expect(skip.status).toBe(201);
  });

  it("remembers a batch in one call", async () => {
    const r = await d.api.post("/v1/remember/batch", {
      memories: [
        { content: "batch fact one about kafka" },
        { content: "batch fact two about kafka" },
        { content: "batch fact one about kafka" },
      ],
    });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ created: 2, duplicates: 1 });
    expect(r.body.results[2].duplicate_of).toBe(r.body.results[0].memory_id);
  });

  it("recalls with OR-ed terms, scores in 0..1 and the signals behind them", async () => {
    const r = await d.api.post("/v1/recall", { query: "what database does billing use?", limit: 5 });
    expect(r.status).toBe(200);
    expect(r.body.query).toBe("what database does billing use?");
    const top = r.body.results[0];
    expect(top.memory.content).toContain("billing-service");
    expect(top.similarity_score).toBeGreaterThan(0);
    expect(top.similarity_score).toBeLessThanOrEqual(1);
    expect(top.signals.keyword.rank).toBe(1);
    expect(typeof top.retrieval_time_ms).toBe("number");
    const get = await d.api.get("/v1/recall?query=billing%20postgres&limit=2");
    expect(get.status).toBe(200);
    expect(get.body.results[0].memory.id).toBe(top.memory.id);
  });

  it("applies min_relevance to the final score and filters by tag and source", async () => {
    const all = await d.api.post("/v1/recall", { query: "kafka", limit: 10 });
    expect(all.body.results.length).toBeGreaterThanOrEqual(2);
    type Hit = { memory: { id: string }; similarity_score: number };
    const scores = (all.body.results as Hit[]).map((x) => x.similarity_score);
    // A cut between the best and the worst score: some results pass, some do not.
    const cut = (scores[0] + (scores.at(-1) as number)) / 2;
    expect(scores[0]).toBeGreaterThan(scores.at(-1) as number);
    const strict = await d.api.post("/v1/recall", { query: "kafka", limit: 10, min_relevance: cut });
    const kept = (all.body.results as Hit[]).filter((x) => x.similarity_score >= cut).map((x) => x.memory.id);
    expect(kept.length).toBeGreaterThan(0);
    expect(kept.length).toBeLessThan(scores.length);
    expect((strict.body.results as Hit[]).map((x) => x.memory.id)).toEqual(kept);
    const tagged = await d.api.post("/v1/recall", { query: "billing postgres", tags: ["nope"] });
    expect(tagged.body.results).toEqual([]);
    const src = await d.api.post("/v1/recall", {
      query: "deploys tuesdays",
      source_instance: "codex@server",
    });
    expect(
      src.body.results.map((x: { memory: { source_instance: string } }) => x.memory.source_instance),
    ).toEqual(["codex@server"]);
  });

  it("reads a time phrase and says how it used it", async () => {
    // Nothing was stored yesterday: the phrase is evidence, not a wall (issue 12), so recall
    // falls back to the unfiltered ranking and says so.
    const r = await d.api.post("/v1/recall", { query: "what did we decide about billing yesterday" });
    expect(r.body.time_filter).toMatchObject({ phrase: "yesterday", mode: "boost" });
    expect(r.body.results.length).toBeGreaterThan(0);
    expect(r.body.results.every((x: { signals: { time?: unknown } }) => x.signals.time === undefined)).toBe(
      true,
    );
    const explicit = await d.api.post("/v1/recall", { query: "billing yesterday", after: "2000-01-01" });
    expect(explicit.body.time_filter).toBeNull();
  });

  it("hides a corrected memory from recall even when only it matches", async () => {
    const old = await d.api.post("/v1/remember", { content: "The staging cluster runs on Nomad" });
    const fix = await d.api.post("/v1/correct", {
      original_id: old.body.memory_id,
      corrected_content: "Staging moved to Kubernetes in March",
    });
    expect(fix.status).toBe(201);
    expect(fix.body).toMatchObject({ success: true, supersedes: old.body.memory_id });
    const r = await d.api.post("/v1/recall", { query: "nomad" });
    expect(r.body.results.map((x: { memory: { id: string } }) => x.memory.id)).not.toContain(
      old.body.memory_id,
    );
    const shown = await d.api.post("/v1/recall", { query: "nomad", include_superseded: true });
    expect(shown.body.results[0].memory.id).toBe(old.body.memory_id);
    const missing = await d.api.post("/v1/correct", {
      original_id: "00000000-0000-4000-8000-000000000000",
      corrected_content: "x",
    });
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe("MEMORY_NOT_FOUND");
  });

  it("forgets through all three routes and hides the memory", async () => {
    const ids: string[] = [];
    for (const c of ["forget me one zebra", "forget me two zebra", "forget me three zebra"])
      ids.push((await d.api.post("/v1/remember", { content: c })).body.memory_id);
    expect((await d.api.post("/v1/forget", { memory_id: ids[0] })).body).toEqual({
      success: true,
      memory_id: ids[0],
      deleted: true,
    });
    expect((await d.api.del(`/v1/forget/${ids[1]}`)).body.success).toBe(true);
    expect((await d.api.del(`/v1/memories/${ids[2]}`)).status).toBe(200);
    expect((await d.api.post("/v1/recall", { query: "zebra" })).body.results).toEqual([]);
    expect((await d.api.get(`/v1/memory/${ids[0]}`)).body.deleted).toBe(true);
    expect((await d.api.del("/v1/forget/00000000-0000-4000-8000-000000000000")).status).toBe(404);
  });

  it("lists with cursor paging and filters", async () => {
    const seen = new Set<string>();
    let cursor: string | null = null;
    let pages = 0;
    do {
      const r: { body: { memories: { id: string }[]; next_cursor: string | null } } = await d.api.get(
        `/v1/memories?limit=3${cursor ? `&cursor=${cursor}` : ""}`,
      );
      for (const m of r.body.memories) seen.add(m.id);
      cursor = r.body.next_cursor;
      pages++;
    } while (cursor && pages < 50);
    expect(seen.size).toBe(await count());
    const tagged = await d.api.get("/v1/memories?tags=infra");
    expect(tagged.body.memories).toHaveLength(1);
    expect((await d.api.get("/v1/memories?cursor=garbage")).status).toBe(422);
  });

  it("reports health and stats", async () => {
    const h = await d.api.get("/v1/health");
    expect(h.body).toMatchObject({
      status: "ok",
      instance_id: expect.any(String),
      version: expect.any(String),
    });
    expect(h.body.embedding.status).toBe("ready");
    const s = await d.api.get("/v1/stats");
    expect(s.body).toMatchObject({
      by_source_type: expect.any(Object),
      by_tag: expect.any(Object),
      instance_id: expect.any(String),
    });
    expect(s.body.total_memories).toBe(h.body.memory_count);
  });

  describe("bad input gets a stable code and changes nothing", () => {
    const cases: [string, () => Promise<{ status: number; body: any }>, number, string][] = [
      ["empty content", () => d.api.post("/v1/remember", { content: "   " }), 422, "VALIDATION_FAILED"],
      [
        "oversized content",
        () => d.api.post("/v1/remember", { content: "x".repeat(33 * 1024) }),
        413,
        "CONTENT_TOO_LARGE",
      ],
      ["wrong type", () => d.api.post("/v1/remember", { content: 42 }), 422, "VALIDATION_FAILED"],
      [
        "unknown field",
        () => d.api.post("/v1/remember", { content: "ok", colour: "red" }),
        422,
        "VALIDATION_FAILED",
      ],
      [
        "bad source_type",
        () => d.api.post("/v1/remember", { content: "ok", source_type: "gossip" }),
        422,
        "VALIDATION_FAILED",
      ],
      [
        "lone surrogate",
        () => d.api.raw("POST", "/v1/remember", '{"content":"bad \\ud800 text"}', "application/json"),
        422,
        "VALIDATION_FAILED",
      ],
      [
        "non-UTF-8 body",
        () =>
          d.api.raw(
            "POST",
            "/v1/remember",
            Buffer.from([0x7b, 0x22, 0x63, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]),
            "application/json",
          ),
        400,
        "INVALID_JSON",
      ],
      [
        "malformed JSON",
        () => d.api.raw("POST", "/v1/remember", "{content:", "application/json"),
        400,
        "INVALID_JSON",
      ],
      ["limit 0", () => d.api.post("/v1/recall", { query: "x", limit: 0 }), 422, "VALIDATION_FAILED"],
      ["limit 101", () => d.api.post("/v1/recall", { query: "x", limit: 101 }), 422, "VALIDATION_FAILED"],
      [
        "min_relevance 2",
        () => d.api.post("/v1/recall", { query: "x", min_relevance: 2 }),
        422,
        "VALIDATION_FAILED",
      ],
      ["empty query", () => d.api.post("/v1/recall", { query: "" }), 422, "VALIDATION_FAILED"],
      [
        "bad date",
        () => d.api.post("/v1/recall", { query: "x", after: "not a date at all" }),
        422,
        "VALIDATION_FAILED",
      ],
      ["malformed id", () => d.api.get("/v1/memory/not-an-id"), 422, "VALIDATION_FAILED"],
      [
        "unknown id",
        () => d.api.get("/v1/memory/00000000-0000-4000-8000-000000000000"),
        404,
        "MEMORY_NOT_FOUND",
      ],
      ["unknown route", () => d.api.get("/v1/nope"), 404, "ROUTE_NOT_FOUND"],
      [
        "oversized body",
        () => d.api.post("/v1/remember", { content: "y".repeat(2 * 1024 * 1024) }),
        413,
        "PAYLOAD_TOO_LARGE",
      ],
    ];
    it.each(cases)("%s", async (_name, send, status, code) => {
      const before = await count();
      const r = await send();
      expect(r.status).toBe(status);
      expect(r.body.error.code).toBe(code);
      expect(r.body.error.message.length).toBeGreaterThan(5);
      expect(await count()).toBe(before);
    });
  });
});
