import type { RunningDaemon } from "@tribalmemory/daemon/daemon";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, startTestDaemon, tempHome } from "./helpers.ts";

type Ingest = { messages_processed: number; duplicates: number; chunks_created: number; expired: number };
type Results = {
  results: {
    type: string;
    similarity_score: number;
    content?: string;
    session_id?: string;
    memory?: { content: string };
  }[];
};

describe("sessions over HTTP", () => {
  const h = tempHome();
  let daemon: RunningDaemon;
  beforeAll(async () => {
    daemon = await startTestDaemon(h.env, false);
  });
  afterAll(async () => {
    await daemon.close();
    h.cleanup();
  });

  it("ingests append-only deltas and ignores a resend", async () => {
    const messages = [
      { role: "user", content: "How do we deploy the billing service?", id: "m1" },
      { role: "assistant", content: "Billing deploys with the blue-green script in ops/deploy.sh", id: "m2" },
    ];
    const first = await api<Ingest>(daemon.url, "POST", "/v1/sessions/ingest", {
      session_id: "s-1",
      messages,
    });
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ messages_processed: 2, duplicates: 0, chunks_created: 1 });
    const again = await api<Ingest>(daemon.url, "POST", "/v1/sessions/ingest", {
      session_id: "s-1",
      messages,
    });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ messages_processed: 0, duplicates: 2 });
    // Without ids, content + timestamp make the key.
    const noIds = [{ role: "user", content: "thanks", timestamp: new Date().toISOString() }];
    await api(daemon.url, "POST", "/v1/sessions/ingest", { session_id: "s-1", messages: noIds });
    const resent = await api<Ingest>(daemon.url, "POST", "/v1/sessions/ingest", {
      session_id: "s-1",
      messages: noIds,
    });
    expect(resent.body.duplicates).toBe(1);
  });

  it("many small deltas give the same chunks as one big ingest", async () => {
    const msgs = Array.from({ length: 60 }, (_, i) => ({
      role: i % 2 ? "assistant" : "user",
      content: Array.from({ length: 37 }, (_, j) => `tok${i}x${j}`).join(" "),
      index: i,
    }));
    await api(daemon.url, "POST", "/v1/sessions/ingest", { session_id: "whole", messages: msgs });
    for (const m of msgs)
      await api(daemon.url, "POST", "/v1/sessions/ingest", { session_id: "delta", messages: [m] });
    const rows = (sid: string) =>
      daemon.store.db
        .prepare("SELECT content FROM session_chunks WHERE session_id = ? ORDER BY chunk_index")
        .all(sid);
    expect(rows("delta")).toEqual(rows("whole"));
    expect(rows("whole").length).toBeGreaterThan(5);
  });

  it("rejects wrong types with VALIDATION_FAILED", async () => {
    const r = await api<{ error: { code: string } }>(daemon.url, "POST", "/v1/sessions/ingest", {
      session_id: 5,
      messages: "x",
    });
    expect(r.status).toBe(422);
    expect(r.body.error.code).toBe("VALIDATION_FAILED");
  });

  it("ingests one 10 MB message without spaces", async () => {
    const r = await api<Ingest>(daemon.url, "POST", "/v1/sessions/ingest", {
      session_id: "blob",
      messages: [{ role: "user", content: `base64blob ${"Q".repeat(10 * 1024 * 1024)}`, id: "big" }],
    });
    expect(r.status).toBe(201);
    expect(r.body.chunks_created).toBeGreaterThan(0);
  });

  it("searches sessions, and recall sources=all merges memories and chunks on one scale", async () => {
    await api(daemon.url, "POST", "/v1/remember", {
      content: "The billing service runs on Postgres 16",
      source_type: "user_explicit",
    });
    const search = await api<Results>(
      daemon.url,
      "GET",
      "/v1/sessions/search?query=billing%20deploy&limit=3",
    );
    expect(search.status).toBe(200);
    expect(search.body.results[0].content).toContain("blue-green");

    const all = await api<Results>(daemon.url, "POST", "/v1/recall", {
      query: "billing service deploy",
      sources: "all",
      limit: 5,
    });
    const types = all.body.results.map((r) => r.type);
    expect(types).toContain("memory");
    expect(types).toContain("session");
    const scores = all.body.results.map((r) => r.similarity_score);
    expect([...scores].sort((a, b) => b - a)).toEqual(scores);
    for (const s of scores) {
      expect(s).toBeGreaterThan(0);
      expect(s).toBeLessThanOrEqual(1);
    }

    const onlySessions = await api<Results>(daemon.url, "POST", "/v1/recall", {
      query: "billing",
      sources: "sessions",
    });
    // Only session s-1 talks about billing; the one memory does too but is not a session.
    expect(onlySessions.body.results.map((r) => [r.type, r.session_id])).toEqual([["session", "s-1"]]);
    const onlyMemories = await api<Results>(daemon.url, "POST", "/v1/recall", { query: "billing" });
    expect(onlyMemories.body.results.map((r) => r.memory?.content)).toEqual([
      "The billing service runs on Postgres 16",
    ]);
  });

  it("POST /v1/context returns the relevant memories within the token budget", async () => {
    for (let i = 0; i < 8; i++) {
      await api(daemon.url, "POST", "/v1/remember", {
        content: `Deployment note ${i}: the billing service deploys ${"carefully ".repeat(40)}`,
        skip_dedup: true,
      });
    }
    const r = await api<{ context: string; memories: unknown[]; token_estimate: number; truncated: boolean }>(
      daemon.url,
      "POST",
      "/v1/context",
      {
        turns: [
          { role: "user", content: "let's ship the release" },
          { role: "assistant", content: "sure" },
          { role: "user", content: "which database does billing use and how does it deploy?" },
        ],
        max_tokens: 200,
        min_relevance: 0,
      },
    );
    expect(r.status).toBe(200);
    expect(r.body.context).toContain("<relevant-memories>");
    expect(r.body.token_estimate).toBeLessThanOrEqual(200);
    expect(r.body.memories).toHaveLength(3);
    expect(r.body.truncated).toBe(true);
  });
});
