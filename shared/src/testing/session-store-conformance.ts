import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { SessionChunkDraft } from "../sessions/chunking.ts";
import type { SessionStore, StoredSessionMessage } from "../sessions/session-store.ts";

export interface SessionStoreFixture {
  store: SessionStore;
  cleanup: () => Promise<void>;
}

/** Every method of `SessionStore`, each under at least one test below. */
export const SESSION_STORE_METHODS = [
  "appendMessages",
  "openChunk",
  "messagesFrom",
  "replaceTail",
  "keywordSearch",
  "vectorSearch",
  "getChunks",
  "chunksMissingVectors",
  "putChunkVectors",
  "deleteOlderThan",
  "stats",
] as const satisfies readonly (keyof SessionStore)[];

const T0 = Date.UTC(2026, 0, 5, 9, 0, 0);

const msg = (key: string, content: string, minute: number) => ({
  key,
  role: "user",
  content,
  timestampMs: T0 + minute * 60_000,
});

/** A chunk over `messages` (first to last), as the chunker would draft it. */
function draft(messages: StoredSessionMessage[]): SessionChunkDraft {
  const content = messages.map((m) => m.content).join("\n");
  return {
    start: { seq: messages[0].seq, token: 0 },
    lastSeq: messages[messages.length - 1].seq,
    content,
    wordCount: content.split(/\s+/).filter(Boolean).length,
    startMs: messages[0].timestampMs,
    endMs: messages[messages.length - 1].timestampMs,
  };
}

function unit(...xs: number[]): Float32Array {
  const norm = Math.hypot(...xs);
  return Float32Array.from(xs.map((x) => x / norm));
}

/**
 * The behaviour every SessionStore must have (SQLite in the daemon, Postgres and PGlite in
 * the relay). Register it from each adapter's test file with a factory for a fresh, empty store.
 */
export function sessionStoreConformance(name: string, makeStore: () => Promise<SessionStoreFixture>): void {
  describe(`SessionStore conformance: ${name}`, () => {
    let fx: SessionStoreFixture;
    const meta = { instanceId: "claude-code@laptop", source: "claude-code" };

    beforeEach(async () => {
      fx = await makeStore();
    });
    afterEach(async () => {
      await fx.cleanup();
    });

    /** Session "s1": two closed-off messages and one in the open chunk, with vectors on both chunks. */
    async function twoChunks() {
      const { inserted } = await fx.store.appendMessages("s1", meta, [
        msg("id:a", "we planned the kubernetes upgrade window", 0),
        msg("id:b", "the upgrade needs a friday slot", 1),
        msg("id:c", "lunch menu for the offsite", 30),
      ]);
      await fx.store.replaceTail("s1", null, [
        { draft: draft(inserted.slice(0, 2)), vector: { modelId: "m1", vector: unit(1, 0, 0, 0) } },
        { draft: draft(inserted.slice(2)), vector: { modelId: "m1", vector: unit(0, 1, 0, 0) } },
      ]);
      return inserted;
    }

    it("appends messages once per key, with consecutive seqs, and reads them back from a seq", async () => {
      const first = await fx.store.appendMessages("s1", meta, [msg("id:a", "one", 0), msg("id:b", "two", 1)]);
      expect(first.duplicates).toBe(0);
      expect(first.inserted.map((m) => [m.role, m.content, m.timestampMs])).toEqual([
        ["user", "one", T0],
        ["user", "two", T0 + 60_000],
      ]);
      const s0 = first.inserted[0].seq;
      expect(first.inserted[1].seq).toBe(s0 + 1);
      const again = await fx.store.appendMessages("s1", meta, [
        msg("id:b", "two", 1),
        msg("id:c", "three", 2),
      ]);
      expect(again).toEqual({
        inserted: [{ seq: s0 + 2, role: "user", content: "three", timestampMs: T0 + 120_000 }],
        duplicates: 1,
      });
      expect((await fx.store.messagesFrom("s1", s0 + 1)).map((m) => [m.seq, m.content])).toEqual([
        [s0 + 1, "two"],
        [s0 + 2, "three"],
      ]);
      expect(await fx.store.messagesFrom("other", 0)).toEqual([]);
    });

    it("keeps one open chunk and replaces it when the tail is re-chunked", async () => {
      expect(await fx.store.openChunk("s1")).toBeNull();
      const inserted = await twoChunks();
      const open = await fx.store.openChunk("s1");
      expect(open).toMatchObject({ chunkIndex: 1, start: { seq: inserted[2].seq, token: 0 } });
      const more = await fx.store.appendMessages("s1", meta, [msg("id:d", "dessert was cake", 31)]);
      await fx.store.replaceTail("s1", open, [
        { draft: draft([inserted[2], ...more.inserted]), vector: null },
      ]);
      const reopened = await fx.store.openChunk("s1");
      expect(reopened).toMatchObject({ id: open?.id, chunkIndex: 1 });
      const [chunk] = await fx.store.getChunks([open?.id as string]);
      expect(chunk.content).toBe("lunch menu for the offsite\ndessert was cake");
      expect((await fx.store.stats()).chunks).toBe(2);
    });

    it("returns chunks by id in the order asked, with their session's instance and times", async () => {
      await twoChunks();
      const open = (await fx.store.openChunk("s1"))?.id as string;
      const hits = await fx.store.keywordSearch(["kubernetes"], 10, {});
      const closed = hits[0].id;
      const chunks = await fx.store.getChunks([open, "sc_unknown_9", closed]);
      expect(chunks).toEqual([
        {
          chunk_id: open,
          session_id: "s1",
          instance_id: "claude-code@laptop",
          source: "claude-code",
          chunk_index: 1,
          content: "lunch menu for the offsite",
          word_count: 5,
          start_time: new Date(T0 + 30 * 60_000).toISOString(),
          end_time: new Date(T0 + 30 * 60_000).toISOString(),
        },
        {
          chunk_id: closed,
          session_id: "s1",
          instance_id: "claude-code@laptop",
          source: "claude-code",
          chunk_index: 0,
          content: "we planned the kubernetes upgrade window\nthe upgrade needs a friday slot",
          word_count: 12,
          start_time: new Date(T0).toISOString(),
          end_time: new Date(T0 + 60_000).toISOString(),
        },
      ]);
      expect(await fx.store.getChunks([])).toEqual([]);
    });

    it("searches chunks by keyword (terms OR-ed) and filters by session, instance and time", async () => {
      await twoChunks();
      await fx.store.appendMessages("s2", { instanceId: "codex@desk", source: null }, [
        msg("id:z", "kubernetes nodes were drained", 10),
      ]);
      const [z] = await fx.store.messagesFrom("s2", 0);
      await fx.store.replaceTail("s2", null, [{ draft: draft([z]), vector: null }]);
      const ids = async (filters: Parameters<SessionStore["keywordSearch"]>[2]) =>
        (await fx.store.keywordSearch(["kubernetes", "zebra"], 10, filters)).length;
      expect(await ids({})).toBe(2);
      expect(await ids({ sessionId: "s1" })).toBe(1);
      expect(await ids({ instanceId: "codex@desk" })).toBe(1);
      expect(await ids({ after: T0 + 5 * 60_000 })).toBe(1);
      expect(await ids({ before: T0 + 5 * 60_000 })).toBe(1);
      expect(await ids({ after: T0 + 60 * 60_000 })).toBe(0);
      expect(await fx.store.keywordSearch(["lunch", "offsite"], 10, {})).toHaveLength(1);
      expect(await fx.store.keywordSearch([], 10, {})).toEqual([]);
      expect(await fx.store.keywordSearch(["kubernetes"], 1, {})).toHaveLength(1);
    });

    it("searches chunk vectors of one model by cosine similarity, nearest first", async () => {
      await twoChunks();
      const hits = await fx.store.vectorSearch(unit(0.8, 0.6, 0, 0), "m1", 10, {});
      expect(hits.map((h) => h.score)).toEqual([expect.closeTo(0.8, 5), expect.closeTo(0.6, 5)]);
      const [first] = await fx.store.getChunks([hits[0].id]);
      expect(first.chunk_index).toBe(0);
      expect(await fx.store.vectorSearch(unit(1, 0, 0, 0), "m1", 1, {})).toHaveLength(1);
      expect(await fx.store.vectorSearch(unit(1, 0, 0, 0), "other-model", 10, {})).toEqual([]);
      expect(await fx.store.vectorSearch(unit(1, 0, 0, 0), "m1", 10, { sessionId: "nope" })).toEqual([]);
    });

    it("lists chunks lacking a vector of a model and stores the vectors given", async () => {
      await twoChunks();
      const all = (await fx.store.chunksMissingVectors("m2", 10)).map((c) => c.content).sort();
      expect(all).toEqual([
        "lunch menu for the offsite",
        "we planned the kubernetes upgrade window\nthe upgrade needs a friday slot",
      ]);
      expect(await fx.store.chunksMissingVectors("m1", 10)).toEqual([]);
      const [one] = await fx.store.chunksMissingVectors("m2", 1);
      await fx.store.putChunkVectors("m2", [{ id: one.id, vector: unit(0, 0, 1, 0) }]);
      expect((await fx.store.chunksMissingVectors("m2", 10)).map((c) => c.id)).not.toContain(one.id);
      expect(await fx.store.chunksMissingVectors("m2", 10)).toHaveLength(1);
      const [hit] = await fx.store.vectorSearch(unit(0, 0, 1, 0), "m2", 10, {});
      expect(hit).toEqual({ id: one.id, score: expect.closeTo(1, 5) });
      expect((await fx.store.stats()).embedded_chunks).toBe(2);
    });

    it("drops what ages out but keeps the messages the open chunk re-chunks from, then empty sessions", async () => {
      await twoChunks();
      expect(await fx.store.stats()).toEqual({ sessions: 1, messages: 3, chunks: 2, embedded_chunks: 2 });
      expect(await fx.store.deleteOlderThan(T0 + 10 * 60_000)).toEqual({ messages: 2, chunks: 1 });
      expect(await fx.store.stats()).toEqual({ sessions: 1, messages: 1, chunks: 1, embedded_chunks: 1 });
      expect(await fx.store.deleteOlderThan(Date.now() + 60_000)).toEqual({ messages: 1, chunks: 1 });
      expect(await fx.store.stats()).toEqual({ sessions: 0, messages: 0, chunks: 0, embedded_chunks: 0 });
      expect(await fx.store.openChunk("s1")).toBeNull();
    });
  });
}
