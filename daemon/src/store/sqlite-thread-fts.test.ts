import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { newActorId } from "@tribalmemory/shared/memory/document";
import type { Memory } from "@tribalmemory/shared/memory/types";
import { MemoryService } from "@tribalmemory/shared/service/memory-service";
import { sampleMemory } from "@tribalmemory/shared/testing/sample-memory";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { buildFilters } from "./sqlite-filters.ts";
import { SqliteMemoryStore } from "./sqlite-store.ts";
import { THREAD_GAP_MS, ThreadFts } from "./sqlite-thread-fts.ts";

const T0 = Date.parse("2024-05-08T13:56:00Z");

/** A conversation: each turn a memory of one instance, a minute after the one before. */
function turns(instance: string, texts: string[], start = T0): Memory[] {
  return texts.map((content, i) => {
    const at = new Date(start + i * 60_000).toISOString();
    return sampleMemory({ content, source_instance: instance, created_at: at, updated_at: at });
  });
}

describe("SQLite keyword search sees a memory's thread", () => {
  let dir: string;
  let store: SqliteMemoryStore;
  let svc: MemoryService;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "tm-thread-"));
    store = new SqliteMemoryStore({ path: join(dir, "memories.db"), readWorker: false });
    svc = new MemoryService({ store, actor: newActorId(), instanceId: "test" });
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const ids = async (terms: string[], thread = true) =>
    (await store.keywordSearch(terms, 10, {}, { thread })).map((h) => h.id);

  it("finds the reply through the question it answers, below the question itself", async () => {
    const [q, a, other] = turns("chat@laptop", [
      "Caroline: Where did you go camping last month?",
      "Melanie: We went to the lake with the kids, it was lovely.",
      "Caroline: I started a new pottery class.",
    ]);
    await svc.insertExact([q, a, other].map((memory) => ({ memory })));
    expect(await ids(["camping"])).toEqual([q.id, a.id]);
    // Without `thread` (the relay's rule, and every caller but recall) a memory matches by its own text.
    expect(await ids(["camping"], false)).toEqual([q.id]);
    expect(await store.threadNeighbours([q.id, a.id, other.id])).toEqual(
      new Map([
        [q.id, { prev: null, next: a.id }],
        [a.id, { prev: q.id, next: other.id }],
        [other.id, { prev: a.id, next: null }],
      ]),
    );
    // Only neighbours within the caller's filters.
    expect(await store.threadNeighbours([q.id], { tags: ["elsewhere"] })).toEqual(new Map());
  });

  it("keeps threads apart: another instance, or a gap longer than a session, is no neighbour", async () => {
    const [a] = turns("chat@laptop", ["Ana: the staging cluster runs on kubernetes"]);
    const [b] = turns("bot@server", ["Bo: noted, thanks"], T0 + 30_000);
    const [c] = turns("chat@laptop", ["Ana: lunch?"], T0 + THREAD_GAP_MS + 120_000);
    await svc.insertExact([a, b, c].map((memory) => ({ memory })));
    expect(await ids(["kubernetes"])).toEqual([a.id]);
    expect((await store.threadNeighbours([a.id, b.id, c.id])).size).toBe(0);
  });

  it("links a forgotten turn's neighbours to each other, and a purge does the same", async () => {
    const [a, b, c, d] = turns("chat@laptop", [
      "Ana: the invoice job failed again",
      "Bo: which one?",
      "Ana: the nightly one, at 2am",
      "Bo: I'll look at the cron",
    ]);
    await svc.insertExact([a, b, c, d].map((memory) => ({ memory })));
    expect(await ids(["invoice"])).toEqual([a.id, b.id]);
    await svc.forget(b.id);
    expect(await ids(["invoice"])).toEqual([a.id, c.id]);
    expect(await store.threadNeighbours([a.id])).toEqual(new Map([[a.id, { prev: null, next: c.id }]]));
    await store.purge(c.id);
    expect(await ids(["invoice"])).toEqual([a.id, d.id]);
    expect(await ids(["nightly"])).toEqual([]);
  });

  it("places a turn that arrives late (sync) between its neighbours", async () => {
    const [a, b, c] = turns("chat@laptop", [
      "Ana: the deploy froze",
      "Bo: restarted the runner",
      "Ana: thanks",
    ]);
    await svc.insertExact([a, c].map((memory) => ({ memory })));
    expect(await ids(["froze"])).toEqual([a.id, c.id]);
    await svc.insertExact([{ memory: b }]);
    expect(await ids(["froze"])).toEqual([a.id, b.id]);
    const runner = await ids(["runner"]);
    expect(runner[0]).toBe(b.id);
    expect(new Set(runner)).toEqual(new Set([a.id, b.id, c.id]));
    expect(await store.threadNeighbours([a.id, b.id, c.id])).toEqual(
      new Map([
        [a.id, { prev: null, next: b.id }],
        [b.id, { prev: a.id, next: c.id }],
        [c.id, { prev: b.id, next: null }],
      ]),
    );
  });

  it("indexes a batch written at once (turns between held ones, another thread) as a rebuild would", async () => {
    const words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"];
    const chat = turns(
      "chat@laptop",
      words.map((w, i) => `${i % 2 ? "Bo" : "Ana"}: ${w} here`),
    );
    const other = turns("notes@server", ["india note", "juliett note"], T0 + 90_000);
    // Every other turn first, then the rest in one batch: each lands between two held turns.
    await svc.insertExact(chat.filter((_, i) => i % 2 === 0).map((memory) => ({ memory })));
    await svc.insertExact([...chat.filter((_, i) => i % 2 === 1), ...other].map((memory) => ({ memory })));
    const probe = [...words, "india", "juliett"];
    const before = await Promise.all(probe.map((w) => ids([w])));
    const all = [...chat, ...other].map((m) => m.id);
    const linksBefore = await store.threadNeighbours(all);
    // Rebuilt from scratch on open (no layout version): each row's neighbours found one by one.
    store.db.prepare("DELETE FROM meta WHERE key = 'fts_index_version'").run();
    await store.close();
    store = new SqliteMemoryStore({ path: join(dir, "memories.db"), readWorker: false });
    svc = new MemoryService({ store, actor: newActorId(), instanceId: "test" });
    const after = await Promise.all(probe.map((w) => ids([w])));
    expect(before).toEqual(after);
    expect(await store.threadNeighbours(all)).toEqual(linksBefore);
    expect(linksBefore.get(chat[3].id)).toEqual({ prev: chat[2].id, next: chat[4].id });
    expect(linksBefore.get(other[0].id)).toEqual({ prev: null, next: other[1].id });
    // "delta" (turn 3) is found in its own row and in turns 2 and 4 through their context.
    expect(new Set(before[3])).toEqual(new Set([chat[2].id, chat[3].id, chat[4].id]));
  });

  it("rebuilds an index of the old layout (content and tags only) on open", async () => {
    const [q, a] = turns("chat@laptop", ["Caroline: did you go camping?", "Melanie: yes, at the lake"]);
    await svc.insertExact([q, a].map((memory) => ({ memory })));
    // What a data folder of the previous release holds: the two-column index, no layout version.
    store.db.exec("DROP TABLE memories_fts");
    store.db.exec(
      "CREATE VIRTUAL TABLE memories_fts USING fts5 (content, tags, content = '', contentless_delete = 1, tokenize = 'porter unicode61 remove_diacritics 2')",
    );
    store.db
      .prepare("INSERT INTO memories_fts (rowid, content, tags) SELECT rid, content, '' FROM memories")
      .run();
    store.db.prepare("DELETE FROM meta WHERE key = 'fts_index_version'").run();
    await store.close();
    const progress: [number, number][] = [];
    store = new SqliteMemoryStore({
      path: join(dir, "memories.db"),
      readWorker: false,
      onReindex: (done, total) => progress.push([done, total]),
    });
    expect(progress).toEqual([[2, 2]]);
    expect(await ids(["camping"])).toEqual([q.id, a.id]);
    expect(await ids(["lake"])).toEqual([a.id, q.id]);
    expect(await store.threadNeighbours([q.id])).toEqual(new Map([[q.id, { prev: null, next: a.id }]]));
  });

  it("links the turns of a folder indexed before links were kept, in the background, answering meanwhile", async () => {
    const chat = turns(
      "chat@laptop",
      Array.from({ length: 30 }, (_, i) => `turn ${i}`),
    );
    await svc.insertExact(chat.map((memory) => ({ memory })));
    const all = chat.map((m) => m.id);
    const want = await store.threadNeighbours(all);
    expect(want.get(chat[7].id)).toEqual({ prev: chat[6].id, next: chat[8].id });
    // The previous release's folder: the same keyword index, no links.
    store.db.exec("DROP TABLE memory_links");
    store.db.prepare("DELETE FROM meta WHERE key LIKE 'thread_links%'").run();
    await store.close();
    const reopen = () => {
      store = new SqliteMemoryStore({ path: join(dir, "memories.db"), readWorker: false });
      svc = new MemoryService({ store, actor: newActorId(), instanceId: "test" });
      return (store as unknown as { thread: ThreadFts }).thread;
    };
    // Its timers are stopped here, and its steps run by hand in chunks of 7 memories.
    const thread = reopen();
    thread.stopLinkFill();
    const links = () => (store.db.prepare("SELECT count(*) AS n FROM memory_links").get() as { n: number }).n;
    expect(links()).toBe(0); // not rebuilt at open: the fill runs in steps
    expect(await store.threadNeighbours(all)).toEqual(want);
    // A turn forgotten mid-fill relinks its neighbours itself.
    await svc.forget(chat[20].id);
    const after = new Map(want);
    after.delete(chat[20].id);
    after.set(chat[19].id, { prev: chat[18].id, next: chat[21].id });
    after.set(chat[21].id, { prev: chat[19].id, next: chat[22].id });
    expect(links()).toBe(2); // the forget linked the two turns it touched
    let steps = 1;
    while (thread.fillLinks(7)) {
      steps++;
      expect(await store.threadNeighbours(all)).toEqual(after);
    }
    expect(steps).toBe(5); // 29 memories: 7, 7, 7, 7, 1
    expect(store.getMeta("thread_links")).toBe("1");
    expect(links()).toBe(29);
    expect(await store.threadNeighbours(all)).toEqual(after);
    // Left to its timers, the fill finishes on its own.
    store.db.exec("DELETE FROM memory_links");
    store.db.prepare("DELETE FROM meta WHERE key LIKE 'thread_links%'").run();
    await store.close();
    reopen();
    const deadline = Date.now() + 10_000;
    while (store.getMeta("thread_links") !== "1" && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    expect(links()).toBe(29);
    expect(await store.threadNeighbours(all)).toEqual(after);
  });

  it("a fill step that cannot write (read-only here, a full disk in life) leaves recall searching threads", async () => {
    const [a, b] = turns("chat@laptop", ["Ana: the build is red", "Bo: looking"]);
    await svc.insertExact([a, b].map((memory) => ({ memory })));
    const readOnly = new Database(join(dir, "memories.db"), { readonly: true });
    try {
      const thread = new ThreadFts(readOnly, { get: () => null, set: () => {} });
      thread.startLinkFill(1);
      // Thrown from its timer, the error would fail this run as an uncaught exception.
      await new Promise((r) => setTimeout(r, 100));
      expect(thread.neighbourIds([a.id], buildFilters({}))).toEqual(
        new Map([[a.id, { prev: null, next: b.id }]]),
      );
      thread.stopLinkFill();
    } finally {
      readOnly.close();
    }
  });

  it("a corrected memory is no one's context; forgetting the correction links it again", async () => {
    const [a, b, c] = turns("chat@laptop", [
      "Ana: deploys happen on friday",
      "Bo: the billing database is postgres",
      "Ana: lunch at noon",
    ]);
    await svc.insertExact([a, b, c].map((memory) => ({ memory })));
    expect(await ids(["deploys"])).toEqual([a.id, b.id]);
    const fix = await svc.correct({ original_id: a.id, corrected_content: "Ana: deploys moved to thursday" });
    // b no longer matches "friday" through a superseded neighbour.
    expect(await ids(["friday"])).toEqual([]);
    expect(await store.threadNeighbours([b.id])).toEqual(new Map([[b.id, { prev: null, next: c.id }]]));
    await svc.forget(fix.memory.id);
    expect(await ids(["friday"])).toEqual([a.id, b.id]);
  });
});
