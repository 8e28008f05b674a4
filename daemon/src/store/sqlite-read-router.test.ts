import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { newActorId } from "@tribalmemory/shared/memory/document";
import { MemoryService } from "@tribalmemory/shared/service/memory-service";
import { sampleMemory } from "@tribalmemory/shared/testing/sample-memory";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { InformativeTerms } from "./informative-terms.ts";
import { KeywordRanker } from "./keyword-rank.ts";
import type { KeywordTopQuery, ReadQuery } from "./read-worker.ts";
import { ReadWorkerClient } from "./read-worker-client.ts";
import type { ReadRouter } from "./sqlite-read-router.ts";
import { SqliteMemoryStore } from "./sqlite-store.ts";

/** The workers' requests from here on, and which worker each went to. */
function spySends(): { query: ReadQuery; worker: ReadWorkerClient }[] {
  const sent: { query: ReadQuery; worker: ReadWorkerClient }[] = [];
  const send = ReadWorkerClient.prototype.send;
  vi.spyOn(ReadWorkerClient.prototype, "send").mockImplementation(function (this: ReadWorkerClient, q) {
    sent.push({ query: q, worker: this });
    return send.call(this, q);
  });
  return sent;
}

/** A keyword ranking request's arguments. */
const topOf = (s: { query: ReadQuery }) => (s.query as { keywordTop: KeywordTopQuery }).keywordTop;

/** Each request's kind (`keywordTop`, `frequencyTerms`, …). */
const kinds = (sent: { query: ReadQuery }[]) => sent.map((s) => Object.keys(s.query)[0]);

describe("the read worker's keyword ranking", () => {
  let dir: string;
  let store: SqliteMemoryStore;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "tm-read-router-"));
    store = new SqliteMemoryStore({ path: join(dir, "memories.db") });
    const svc = new MemoryService({ store, actor: newActorId(), instanceId: "test" });
    const words = ["deploy", "invoice", "runner", "postgres"];
    await svc.insertExact(
      Array.from({ length: 40 }, (_, i) => ({
        memory: sampleMemory({ content: `${words[i % 4]} note ${i} ${i % 3 ? "friday" : "monday"}` }),
      })),
    );
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("brings the terms' frequencies with it: recall asks the worker once, not twice", async () => {
    const sent = spySends();
    const terms = ["deploy", "friday"];
    // As recall asks them: both at once, the frequencies for coverage's weights.
    const [hits, frequencies] = await Promise.all([
      store.keywordSearch(terms, 10, {}, { thread: true }),
      store.termFrequencies(terms),
    ]);
    expect(hits.length).toBeGreaterThan(0);
    expect(kinds(sent)).toEqual(["keywordTop"]);
    // The same as the worker answers when asked alone.
    expect(frequencies).toEqual(await store.termFrequencies(terms));
    expect(frequencies).toEqual({ docs: 40, df: [10, 26] });
    expect(kinds(sent)).toEqual(["keywordTop", "frequencyTerms"]);
    // Other terms than the ranking's are asked of the worker.
    await Promise.all([store.keywordSearch(["invoice"], 10, {}), store.termFrequencies(["runner"])]);
    expect(kinds(sent).slice(2)).toEqual(["keywordTop", "frequencyTerms"]);
  });
  it("scores with tm_bm25 on its connection and its worker; with TRIBAL_MEMORY_FTS_SCORER=bm25 with bm25(), the same", async () => {
    const sent = spySends();
    const scorerHere = "SELECT count(*) AS n FROM pragma_function_list WHERE name = 'tm_bm25'";
    expect(store.keywordScorer).toBe("tm_bm25");
    expect(await (store as unknown as { reads: ReadRouter }).reads.rows(scorerHere, {})).toEqual([{ n: 1 }]);
    expect(sent.map((s) => s.query)).toEqual([{ sql: scorerHere, params: {} }]); // asked of the worker
    const counted = await store.keywordSearch(["deploy", "friday", "note"], 10, {}, { thread: true });
    await store.close();
    vi.stubEnv("TRIBAL_MEMORY_FTS_SCORER", "bm25");
    store = new SqliteMemoryStore({ path: join(dir, "memories.db") });
    expect(store.keywordScorer).toBe("bm25");
    const plain = await store.keywordSearch(["deploy", "friday", "note"], 10, {}, { thread: true });
    expect(counted.map((h) => h.id)).toEqual(plain.map((h) => h.id));
    for (const [i, h] of counted.entries()) expect(h.score).toBeCloseTo(plain[i].score, 12);
    vi.unstubAllEnvs();
  });
});

describe("a large store's keyword ranking, split over read workers", () => {
  let dir: string;
  let store: SqliteMemoryStore;
  let svc: MemoryService;
  const vocabulary = Array.from({ length: 60 }, (_, i) => `word${i}`);

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "tm-read-split-"));
    // Split from the first memory and any postings, over three workers: what a store past
    // SPLIT_RANKING_FROM gets for a query past SPLIT_RANKING_POSTINGS.
    store = new SqliteMemoryStore({
      path: join(dir, "memories.db"),
      keywordSplit: { splitFrom: 1, parts: 3, splitPostings: 0 },
    });
    svc = new MemoryService({ store, actor: newActorId(), instanceId: "test" });
    let seed = 7;
    const next = () => {
      seed = (seed * 48271) % 2147483647;
      return seed / 2147483647;
    };
    await svc.insertExact(
      Array.from({ length: 300 }, (_, i) => ({
        memory: sampleMemory({
          content: Array.from({ length: 6 + (i % 9) }, () => vocabulary[Math.floor(next() ** 2 * 60)]).join(
            " ",
          ),
          tags: i % 4 ? [] : ["ops"],
        }),
      })),
    );
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const router = (of: SqliteMemoryStore = store) => (of as unknown as { reads: ReadRouter }).reads;
  /** The unsplit ranking on the store's own connection: what every split must give. */
  const whole = () => new KeywordRanker(store.db, new InformativeTerms(store.db));

  it("ranks as the whole index does, each part on its own worker over its own rowids", async () => {
    const sent = spySends();
    const unsplit = whole();
    const filter = { sql: "m.rid % 2 = 0", params: {} };
    for (const terms of [["word0", "word3", "word41"], ["word2", "word17"], ["word59"]]) {
      for (const thread of [false, true]) {
        for (const f of [null, filter]) {
          const got = await router().keywordTop(terms, 25, thread, f);
          expect(got.length).toBeGreaterThan(0);
          expect(got).toEqual(unsplit.top(terms, 25, thread, f));
        }
      }
    }
    // The first worker is asked first: it looks the frequencies up and leaves the ranking unrun.
    const [probe, ...first] = sent.slice(0, 4).map((s) => ({ ...s, top: topOf(s) }));
    expect(kinds(sent.slice(0, 4))).toEqual(["keywordTop", "keywordTop", "keywordTop", "keywordTop"]);
    expect(probe.worker).toBe((router() as unknown as { readers: ReadWorkerClient[] }).readers[0]);
    expect(probe.top.splitAt).toBe(0);
    expect(probe.top.range).toBeUndefined();
    // Then the parts, each with those frequencies: none counts them again.
    expect(new Set(first.map((s) => s.worker)).size).toBe(3);
    for (const part of first)
      expect(part.top.known).toEqual(await store.termFrequencies(["word0", "word3", "word41"]));
    const ranges = first.map((s) => s.top.range);
    // Contiguous, and open at both ends.
    expect(ranges[0]?.from).toBe(Number.MIN_SAFE_INTEGER);
    expect(ranges[1]?.from).toBe(ranges[0]?.to);
    expect(ranges[2]?.from).toBe(ranges[1]?.to);
    expect(ranges[2]?.to).toBe(Number.MAX_SAFE_INTEGER);
  });

  it("finds memories written after the ranges were cut, and recall's frequencies come along", async () => {
    await store.keywordSearch(["word1"], 10, {});
    await svc.remember({ content: "zebra crossing word1", source_type: "user_explicit" });
    const hits = await store.keywordSearch(["zebra"], 10, {});
    expect(hits).toHaveLength(1);
    const sent = spySends();
    const [found, frequencies] = await Promise.all([
      store.keywordSearch(["zebra", "crossing"], 10, { tags: ["ops"] }),
      store.termFrequencies(["zebra", "crossing"]),
    ]);
    expect(found).toEqual([]); // the new memory has no "ops" tag
    expect(frequencies.df).toEqual([1, 1]); // (the count is kept until the store grows by a hundredth)
    expect(kinds(sent)).toEqual(["keywordTop", "keywordTop", "keywordTop", "keywordTop"]);
  });

  it("ranks the whole on the first worker when another has failed", async () => {
    const unsplit = whole();
    expect(await router().keywordTop(["word0", "word5"], 25, true, null)).toEqual(
      unsplit.top(["word0", "word5"], 25, true, null),
    );
    const readers = (router() as unknown as { readers: ReadWorkerClient[] }).readers;
    await readers[2].close();
    const sent = spySends();
    expect(await router().keywordTop(["word0", "word5"], 25, true, null)).toEqual(
      unsplit.top(["word0", "word5"], 25, true, null),
    );
    expect(sent).toHaveLength(1);
    expect(sent[0].worker).toBe(readers[0]);
    expect(topOf(sent[0]).range).toBeUndefined();
    expect(topOf(sent[0]).splitAt).toBeUndefined();
  });

  it("ranks a query whose postings are below the split's whole, on the first worker", async () => {
    const other = new SqliteMemoryStore({
      path: join(dir, "memories.db"),
      keywordSplit: { splitFrom: 1, parts: 3, splitPostings: 10_000 },
    });
    const unsplit = whole();
    const sent = spySends();
    const got = await router(other).keywordTop(["word0", "word5"], 25, true, null);
    expect(got).toEqual(unsplit.top(["word0", "word5"], 25, true, null));
    expect(sent).toHaveLength(1); // ranked where its frequencies were looked up
    expect(topOf(sent[0]).splitAt).toBe(10_000);
    vi.restoreAllMocks();
    await other.close();
  });

  it("splits one term alone when its postings reach the split's", async () => {
    const other = new SqliteMemoryStore({
      path: join(dir, "memories.db"),
      keywordSplit: { splitFrom: 1, parts: 3, splitPostings: 50 },
    });
    const { df } = await other.termFrequencies(["word0"]);
    expect(df[0]).toBeGreaterThan(50);
    const unsplit = whole();
    const sent = spySends();
    const got = await router(other).keywordTop(["word0"], 25, true, null);
    expect(got).toEqual(unsplit.top(["word0"], 25, true, null));
    expect(sent.map((s) => topOf(s).range === undefined)).toEqual([true, false, false, false]);
    vi.restoreAllMocks();
    await other.close();
  });

  it("does not split a store below the size, nor on one core", async () => {
    for (const keywordSplit of [{ splitFrom: 1000 }, { splitFrom: 1, parts: 1 }]) {
      const other = new SqliteMemoryStore({ path: join(dir, "memories.db"), keywordSplit });
      const sent = spySends();
      expect((await other.keywordSearch(["word0"], 10, {})).length).toBe(10);
      expect(sent).toHaveLength(1);
      expect(topOf(sent[0]).range).toBeUndefined();
      expect(topOf(sent[0]).splitAt).toBeUndefined();
      vi.restoreAllMocks();
      await other.close();
    }
  });
});

describe("read workers start with the store", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "tm-read-start-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const readersOf = (store: SqliteMemoryStore) =>
    (store as unknown as { reads: { readers: ReadWorkerClient[] } }).reads.readers;

  it("at open, before any read: the first recall after a daemon starts does not wait for a thread", async () => {
    const path = join(dir, "memories.db");
    const store = new SqliteMemoryStore({ path });
    expect(readersOf(store)).toHaveLength(1);
    const svc = new MemoryService({ store, actor: newActorId(), instanceId: "test" });
    await svc.insertExact([{ memory: sampleMemory({ content: "the runner cache lives on the nvme disk" }) }]);
    const sent = spySends();
    expect(await store.keywordSearch(["runner", "nvme"], 5, {})).toHaveLength(1);
    expect(sent[0].worker).toBe(readersOf(store)[0]); // the worker started at open answered
    vi.restoreAllMocks();
    await store.close();

    // A store large enough to split starts every part's worker; one that is not, only the first.
    for (const [keywordSplit, started] of [
      [{ splitFrom: 1, parts: 3 }, 3],
      [{ splitFrom: 1000, parts: 3 }, 1],
    ] as const) {
      const other = new SqliteMemoryStore({ path, keywordSplit });
      expect(readersOf(other)).toHaveLength(started);
      await other.close();
    }
    const none = new SqliteMemoryStore({ path, readWorker: false });
    expect(readersOf(none)).toHaveLength(0);
    await none.close();
  });

  it("closes a store just opened only once its workers have started: one terminated while loading SQLite aborts the process", async () => {
    const path = join(dir, "memories.db");
    const first = new SqliteMemoryStore({ path, readWorker: false });
    await new MemoryService({ store: first, actor: newActorId(), instanceId: "test" }).insertExact([
      { memory: sampleMemory({ content: "one memory, so the store splits" }) },
    ]);
    await first.close();
    const other = new SqliteMemoryStore({ path, keywordSplit: { splitFrom: 1, parts: 3 } });
    const readers = readersOf(other);
    expect(readers).toHaveLength(3);
    const workerOf = (r: ReadWorkerClient) => (r as unknown as { worker: Worker }).worker;
    const startedWhenTerminated: boolean[] = [];
    const terminate = Worker.prototype.terminate;
    vi.spyOn(Worker.prototype, "terminate").mockImplementation(function (this: Worker) {
      const reader = readers.find((r) => workerOf(r) === this);
      if (reader) startedWhenTerminated.push(reader.isStarted);
      return terminate.call(this);
    });
    expect(readers.some((r) => r.isStarted)).toBe(false); // each is still loading
    await other.close();
    expect(startedWhenTerminated).toEqual([true, true, true]);
  });
});
