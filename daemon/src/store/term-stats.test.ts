import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { newActorId } from "@tribalmemory/shared/memory/document";
import { MemoryService } from "@tribalmemory/shared/service/memory-service";
import { sampleMemory } from "@tribalmemory/shared/testing/sample-memory";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { loadFtsScorer } from "./fts-extension.ts";
import { ftsTerm, InformativeTerms } from "./informative-terms.ts";
import { KeywordRanker } from "./keyword-rank.ts";
import { SCHEMA_SQL } from "./schema.ts";
import { SqliteMemoryStore } from "./sqlite-store.ts";
import { readTermStatsInfo, tokenSql } from "./term-stats.ts";
import { buildTermStats } from "./term-stats-build.ts";

/** Words drawn by Zipf's law: real ones first (their stems differ from them), then w0…w199. */
const WORDS = ["deploying", "agreed", "invoices", "running", "postgres", "friday", "rollback", "ledger"];
const VOCABULARY = [...WORDS, ...Array.from({ length: 200 }, (_, i) => `w${i}`)];

function randomText(seed: number): (max: number) => string {
  let s = seed;
  const random = () => {
    s = (s * 16807) % 2147483647;
    return s / 2147483647;
  };
  const weights = VOCABULARY.map((_, i) => 1 / (i + 1));
  const total = weights.reduce((a, b) => a + b, 0);
  const word = () => {
    let r = random() * total;
    for (const [i, w] of weights.entries()) {
      r -= w;
      if (r <= 0) return VOCABULARY[i];
    }
    return VOCABULARY[VOCABULARY.length - 1];
  };
  return (max) => Array.from({ length: 1 + Math.floor(random() * max) }, word).join(" ");
}

/** Rows `from`..`to` of memories and their keyword rows, every column written. */
function fill(db: Database.Database, from: number, to: number): void {
  const text = randomText(from);
  const memory = db.prepare(
    `INSERT INTO memories (rid, id, content, content_hash, dedup_key, source_type, source_instance, tags, confidence, created_at, updated_at, created_ms)
     VALUES (?, ?, '', '', '', 'import', 'test', '[]', 1, '', '', 0)`,
  );
  const fts = db.prepare(
    "INSERT INTO memories_fts (rowid, content, tags, prev, next) VALUES (?, ?, ?, ?, ?)",
  );
  db.transaction(() => {
    for (let rid = from; rid <= to; rid++) {
      memory.run(rid, `m${rid}`);
      fts.run(rid, text(20), text(2), text(12), text(12));
    }
  })();
}

const count = (db: Database.Database, match: string) =>
  db.prepare("SELECT count(*) FROM memories_fts WHERE memories_fts MATCH ?").pluck().get(match) as number;

describe("term stats (term-stats.ts)", () => {
  let dir: string;
  let db: Database.Database;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "tm-term-stats-"));
    db = new Database(join(dir, "memories.db"));
    expect(loadFtsScorer(db)).toBe(true);
    db.exec(SCHEMA_SQL);
    fill(db, 1, 3000);
  });
  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("tm_token gives the keyword index's one token of a word, or null", () => {
    const token = db.prepare(`SELECT ${tokenSql("?")}`).pluck();
    expect(["Running", "Café", "invoices", "agreed", "agre"].map((w) => token.get(w))).toEqual([
      "run",
      "cafe",
      "invoic",
      "agre",
      "agr", // porter's stem of a stem: not the token it came from
    ]);
    expect(["e-mail", "two words", "", " ", null].map((w) => token.get(w))).toEqual([
      null,
      null,
      null,
      null,
      null,
    ]);
    // A bad tokenizer is an error, never a crash.
    for (const sql of [
      "tm_token('x')",
      "tm_token('x', 'nosuch')",
      "tm_token('x', NULL)",
      "tm_token('x', 'porter', NULL)",
    ])
      expect(() => db.prepare(`SELECT ${sql}`).get(), sql).toThrow(/tm_token/);
  });

  it("keeps every token in at least minDf memories, with the counts a query of it gives", () => {
    const info = buildTermStats(db, { minDf: 100 });
    expect(info).toMatchObject({ docs: 3000, top: 3000, minDf: 100 });
    const kept = db.prepare("SELECT token, own, every FROM term_stats").all() as {
      token: string;
      own: number;
      every: number;
    }[];
    expect(kept.length).toBe(info?.tokens);
    expect(kept.length).toBeGreaterThan(20);
    for (const { token, own, every } of kept) {
      expect(own, token).toBe(count(db, `{content tags} : ${ftsTerm(token)}`));
      expect(every, token).toBe(count(db, ftsTerm(token)));
      expect(every).toBeGreaterThanOrEqual(100);
    }
    const tokens = new Set(kept.map((k) => k.token));
    // Common, and kept under their stems.
    for (const stem of ["deploi", "invoic", "run", "postgr", "w0"]) expect(tokens.has(stem), stem).toBe(true);
    // "agreed" is common, but its token "agre" would be read as "agr" in a query: not kept.
    expect(count(db, "agreed")).toBeGreaterThan(100);
    expect(tokens.has("agre")).toBe(false);
    // Rare tokens are not kept.
    const rare = db
      .prepare(
        "SELECT term FROM (SELECT term, doc FROM temp.term_stats_vocab) WHERE doc < 100 AND doc > 0 LIMIT 1",
      )
      .pluck()
      .get() as string;
    expect(tokens.has(rare)).toBe(false);
    expect(readTermStatsInfo(db)).toEqual(info);
  });

  it("recall reads the kept counts instead of counting, while the store is within a tenth of their size", () => {
    buildTermStats(db, { minDf: 100 });
    // A count no query could give: read, not counted.
    db.prepare("UPDATE term_stats SET own = 77, every = 88 WHERE token = 'deploi'").run();
    const terms = new InformativeTerms(db);
    expect(terms.documentFrequencies(["deploying", "agreed"], 3000)).toEqual([
      77,
      count(db, "{content tags} : agreed"),
    ]);
    expect(terms.documentFrequencies(["Deploying"], 3000, true)).toEqual([88]);
    // Grown by a tenth: counted again.
    fill(db, 3001, 3400);
    expect(new InformativeTerms(db).documentFrequencies(["deploying"], 3400)).toEqual([
      count(db, "{content tags} : deploying"),
    ]);
  });

  it("ranks as counting does: the same rows and scores", () => {
    const queries = [
      ["deploying", "w3", "w40"],
      ["invoices", "running", "w150"],
      ["friday", "ledger"],
    ];
    const rank = () => {
      const terms = new InformativeTerms(db);
      const ranker = new KeywordRanker(db, terms);
      return queries.flatMap((q) => [true, false].map((thread) => ranker.top(q, 20, thread, null)));
    };
    const counted = rank();
    buildTermStats(db, { minDf: 100 });
    expect(rank()).toEqual(counted);
  });
});

describe("the store keeps its term stats", () => {
  let dir: string;
  let store: SqliteMemoryStore | null = null;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "tm-term-stats-store-"));
  });
  afterEach(async () => {
    vi.unstubAllEnvs();
    await store?.close();
    store = null;
    rmSync(dir, { recursive: true, force: true });
  });

  const options = { termStats: { from: 200, minDf: 20, idleMs: 20 } };
  async function remember(s: SqliteMemoryStore, n: number, seed: number) {
    const text = randomText(seed);
    const svc = new MemoryService({ store: s, actor: newActorId(), instanceId: "test" });
    await svc.insertExact(Array.from({ length: n }, () => ({ memory: sampleMemory({ content: text(20) }) })));
  }
  const info = (s: SqliteMemoryStore) => readTermStatsInfo(s.db);

  it("counts once writes are quiet, from `from` memories, and again once grown by a tenth", async () => {
    store = new SqliteMemoryStore({ path: join(dir, "memories.db"), ...options });
    await remember(store, 150, 3);
    await new Promise((r) => setTimeout(r, 100));
    await store.termStats.ready();
    expect(info(store)).toBeNull(); // below `from`
    await remember(store, 100, 5);
    await vi.waitFor(() => expect(info(store as SqliteMemoryStore)?.docs).toBe(250), { timeout: 10_000 });
    await store.termStats.ready();
    const last = store.termStats.last;
    expect(last && "info" in last && last.info?.tokens).toBeGreaterThan(5);
    // What /v1/health shows.
    expect(store.termStats.status()).toMatchObject({ building: false, memories: 250 });
    expect(store.termStats.status().tokens).toBeGreaterThan(5);
    await remember(store, 10, 7); // within a tenth: kept
    await new Promise((r) => setTimeout(r, 100));
    await store.termStats.ready();
    expect(info(store)?.docs).toBe(250);
    await remember(store, 40, 9);
    await vi.waitFor(() => expect(info(store as SqliteMemoryStore)?.docs).toBe(300), { timeout: 10_000 });
    // A recall on the store's read worker reads them: the counts a query gives.
    const kept = store.db.prepare("SELECT own FROM term_stats WHERE token = 'run'").pluck().get();
    expect((await store.termFrequencies(["running", "w1"])).df[0]).toBe(kept);
  });

  it("counts at open a store that has none; a store closed at once closes cleanly", async () => {
    store = new SqliteMemoryStore({
      path: join(dir, "memories.db"),
      ...options,
      termStats: { from: 10_000 },
    });
    await remember(store, 260, 11);
    await store.close();
    store = new SqliteMemoryStore({ path: join(dir, "memories.db"), ...options });
    await store.close(); // the build it started stops, its thread ends
    store = new SqliteMemoryStore({ path: join(dir, "memories.db"), ...options });
    await store.termStats.ready();
    expect(info(store)?.docs).toBe(260);
  });

  it("counts again at open once purges have shrunk the store by a tenth", async () => {
    const path = join(dir, "memories.db");
    store = new SqliteMemoryStore({ path, ...options });
    await remember(store, 300, 15);
    await vi.waitFor(() => expect(info(store as SqliteMemoryStore)?.docs).toBe(300), { timeout: 10_000 });
    const ids = store.db.prepare("SELECT id FROM memories ORDER BY rid LIMIT 60").pluck().all() as string[];
    for (const id of ids) await store.purge(id);
    await store.close();
    store = new SqliteMemoryStore({ path, ...options });
    await vi.waitFor(() => expect(info(store as SqliteMemoryStore)?.docs).toBe(240), { timeout: 10_000 });
  });

  it("leaves no word of purged memories in the file: the build's own deletes are zeroed too", async () => {
    const path = join(dir, "memories.db");
    store = new SqliteMemoryStore({ path, ...options });
    const svc = new MemoryService({ store, actor: newActorId(), instanceId: "test" });
    const text = randomText(17);
    const marked = Array.from({ length: 60 }, (_, i) =>
      sampleMemory({ content: `zqxjkvq ${i} ${text(10)}` }),
    );
    await svc.insertExact(
      [...marked, ...Array.from({ length: 240 }, () => sampleMemory({ content: text(20) }))].map(
        (memory) => ({ memory }),
      ),
    );
    await vi.waitFor(() => expect(info(store as SqliteMemoryStore)?.docs).toBe(300), { timeout: 10_000 });
    expect(store.db.prepare("SELECT own FROM term_stats WHERE token = 'zqxjkvq'").pluck().get()).toBe(60);
    for (const m of marked) await store.purge(m.id);
    await store.close();
    store = new SqliteMemoryStore({ path, ...options }); // a fifth fewer: counted again at open
    await vi.waitFor(() => expect(info(store as SqliteMemoryStore)?.docs).toBe(240), { timeout: 10_000 });
    await store.close();
    store = null;
    const files = readdirSync(dir).filter((f) => readFileSync(join(dir, f)).includes(Buffer.from("zqxjkvq")));
    expect(files).toEqual([]);
  });

  it("keeps none without the scorer (TRIBAL_MEMORY_FTS_SCORER=bm25)", async () => {
    vi.stubEnv("TRIBAL_MEMORY_FTS_SCORER", "bm25");
    store = new SqliteMemoryStore({ path: join(dir, "memories.db"), ...options });
    await remember(store, 260, 13);
    await new Promise((r) => setTimeout(r, 200));
    await store.termStats.ready();
    expect(info(store)).toBeNull();
    expect(store.termStats.last).toBeNull();
  });
});
