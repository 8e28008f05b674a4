import { createHashingProvider } from "@tribalmemory/shared/embed/hashing";
import { SessionService } from "@tribalmemory/shared/sessions/session-service";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { SqliteSessionStore } from "../store/sqlite-session-store.ts";

const DAY = 86_400_000;

function setup(retentionDays: number) {
  const db = new Database(":memory:");
  let now = Date.parse("2026-06-01T00:00:00Z");
  const provider = createHashingProvider();
  let embedder: {
    provider: typeof provider;
    calibration: { floor: number; ceiling: number; weight: number };
    dedupCosine: null;
  } | null = null;
  const service = new SessionService({
    store: new SqliteSessionStore(db),
    embedder: () => embedder,
    instanceId: "test",
    retentionDays,
    now: () => new Date(now),
  });
  return {
    db,
    service,
    advance: (ms: number) => {
      now += ms;
    },
    loadModel: () => {
      embedder = { provider, calibration: { floor: 0.1, ceiling: 0.9, weight: 0.3 }, dedupCosine: null };
    },
    count: (table: string) => (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n,
  };
}

describe("session retention and embedding backfill", () => {
  it("skips messages older than the retention and prunes what ages out", async () => {
    const t = setup(30);
    const old = new Date(Date.parse("2026-06-01T00:00:00Z") - 40 * DAY).toISOString();
    const r = await t.service.ingest({
      session_id: "s",
      messages: [
        { role: "user", content: "ancient history about cobol", timestamp: old },
        { role: "user", content: "fresh talk about rust lifetimes" },
      ],
    });
    expect(r).toMatchObject({ messages_processed: 1, expired: 1 });
    t.advance(31 * DAY);
    expect(await t.service.prune()).toEqual({ messages: 1, chunks: 1 });
    expect(t.count("session_chunks")).toBe(0);
    expect(t.count("session_messages")).toBe(0);
    // The session goes on: new messages chunk from scratch.
    await t.service.ingest({
      session_id: "s",
      messages: [{ role: "user", content: "new question about tokio" }],
    });
    const hits = await t.service.search({ query: "tokio", limit: 5, min_relevance: 0 });
    expect(hits.map((h) => h.chunk.content)).toEqual(["user: new question about tokio"]);
  });

  it("chunks stored before the model loaded are embedded later", async () => {
    const t = setup(0);
    await t.service.ingest({
      session_id: "s",
      messages: [{ role: "user", content: "kubernetes ingress annotations" }],
    });
    expect(t.count("session_chunk_vectors")).toBe(0);
    t.loadModel();
    expect(await t.service.backfillVectors()).toBe(1);
    const [hit] = await t.service.search({ query: "kubernetes ingress", limit: 1, min_relevance: 0 });
    expect(hit.signals.vector).toBeDefined();
    expect(hit.signals.keyword).toBeDefined();
  });
});
