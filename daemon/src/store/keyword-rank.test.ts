import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { hasFtsScorer, loadFtsScorer } from "./fts-extension.ts";
import { InformativeTerms } from "./informative-terms.ts";
import { KeywordRanker } from "./keyword-rank.ts";
import { FTS_TABLE_SQL } from "./schema.ts";

type Scorer = "bm25" | "tm_bm25";

/**
 * 2,000 memories: "common" in 40%, "often" in 30%, "rare" in 1% (rids 100, 200, … 2000),
 * "seldom" in rids 150, 300, … 1950. Among the rare ones, rid 100k also holds "common" and
 * "often" when k is odd, and its text grows longer with k: BM25 on "rare" alone ranks the
 * shortest first, with every term the odd ones. Rids 600, 1200 and 1800 hold "rare" and "seldom"
 * and neither of the others.
 */
function corpusOf(scorer: Scorer): Database.Database {
  const db = new Database(":memory:");
  // The scorer is built by bootstrap (daemon/native/build.ts); CI must have it.
  if (scorer === "tm_bm25" && !loadFtsScorer(db))
    throw new Error("tm_bm25 missing: run node daemon/native/build.ts");
  db.exec(`CREATE TABLE memories (rid INTEGER PRIMARY KEY); ${FTS_TABLE_SQL}`);
  const m = db.prepare("INSERT INTO memories (rid) VALUES (?)");
  const f = db.prepare(
    "INSERT INTO memories_fts (rowid, content, tags, prev, next) VALUES (@rid, @content, '', @prev, '')",
  );
  db.transaction(() => {
    for (let rid = 1; rid <= 2000; rid++) {
      m.run(rid);
      const words = ["filler"];
      if (rid % 5 === 1 || rid % 5 === 2) words.push("common");
      if (rid % 10 >= 1 && rid % 10 <= 3) words.push("often");
      if (rid % 100 === 0) {
        const k = rid / 100;
        words.push("rare", ...Array.from({ length: k }, () => "padding"));
        if (k % 2) words.push("common", "often");
      }
      if (rid % 150 === 0) words.push("seldom");
      // rid 7 holds "rare" only in the neighbour column, which only thread search reads.
      f.run({ rid, content: words.join(" "), prev: rid === 7 ? "rare" : "" });
    }
  })();
  return db;
}

/** How many of `terms` memory `rid` of `corpus()` holds. */
function holds(rid: number, terms: string[]): number {
  const k = rid % 100 === 0 ? rid / 100 : 0;
  const has: Record<string, boolean> = {
    rare: k > 0,
    common: rid % 5 === 1 || rid % 5 === 2 || k % 2 === 1,
    often: (rid % 10 >= 1 && rid % 10 <= 3) || k % 2 === 1,
    seldom: rid % 150 === 0,
  };
  return terms.filter((t) => has[t]).length;
}

const exhaustive = (db: Database.Database) =>
  new KeywordRanker(db, new InformativeTerms(db), { budget: Infinity });
const rareFirst = (db: Database.Database) => new KeywordRanker(db, new InformativeTerms(db), { budget: 100 });

describe.each(["bm25", "tm_bm25"] as const)("KeywordRanker scoring with %s", (scorer) => {
  const corpus = () => {
    const db = corpusOf(scorer);
    expect(hasFtsScorer(db)).toBe(scorer === "tm_bm25");
    return db;
  };

  it("ranks the memories holding two terms exactly as scoring every match does, and only them when they fill the limit", () => {
    const db = corpus();
    const terms = ["rare", "common", "often"];
    const all = exhaustive(db).top(terms, 2000, false);
    const split = rareFirst(db).top(terms, 10, false);
    const best = all.filter((r) => holds(r.rid, terms) >= 2).slice(0, 10);
    expect(split.map((r) => r.rid)).toEqual(best.map((r) => r.rid));
    for (const [i, r] of split.entries()) expect(r.score).toBeCloseTo(best[i].score, 9);
    // The common terms moved the odd rare memories up: "rare" alone puts the shortest first.
    const rareAlone = exhaustive(db).top(["rare"], 10, false);
    expect(rareAlone[0].rid).toBe(200);
    expect(split[0].rid).toBe(100);
    // What it gives up: rid 200 holds "rare" alone and BM25 over every match ranks it second,
    // but more than ten memories hold two of the terms.
    expect(all[1].rid).toBe(200);
    expect(split.some((r) => r.rid === 200)).toBe(false);
  });

  it("finds the memories holding two rare terms and no common one, scored with every term", () => {
    const db = corpus();
    // "seldom" (13) and "rare" (20) are the rare ones, "common" the common one.
    const terms = ["rare", "seldom", "common"];
    const all = exhaustive(db).top(terms, 2000, false);
    // 13 memories hold two of them: ten odd rare ones with "common", and 600, 1200 and 1800.
    expect(all.filter((r) => holds(r.rid, terms) >= 2)).toHaveLength(13);
    const split = rareFirst(db).top(terms, 12, false);
    const best = all.filter((r) => holds(r.rid, terms) >= 2).slice(0, 12);
    expect(split.map((r) => r.rid)).toEqual(best.map((r) => r.rid));
    for (const [i, r] of split.entries()) expect(r.score).toBeCloseTo(best[i].score, 9);
    for (const rid of [600, 1200, 1800]) expect(split.some((r) => r.rid === rid)).toBe(true);
  });

  it("ranks within a filter joined to each match, split or not", () => {
    const db = corpus();
    const terms = ["rare", "common", "often"];
    const filter = { sql: "m.rid > @from", params: { from: 1000 } };
    const all = exhaustive(db).top(terms, 2000, false, filter);
    const split = rareFirst(db).top(terms, 10, false, filter);
    expect(all.every((r) => r.rid > 1000)).toBe(true);
    expect(split.map((r) => r.rid)).toEqual(
      all
        .filter((r) => holds(r.rid, terms) >= 2)
        .slice(0, 10)
        .map((r) => r.rid),
    );
    expect(split[0].rid).toBe(1100); // the first rare memory past the filter holding every term
  });

  it("keeps BM25's order when fewer than `limit` memories hold a rare term", () => {
    const db = corpus();
    const split = rareFirst(db).top(["rare", "often"], 50, false);
    const all = exhaustive(db).top(["rare", "often"], 50, false);
    // The 20 rare memories lead both lists in the same order.
    expect(split.slice(0, 20).map((r) => r.rid)).toEqual(all.slice(0, 20).map((r) => r.rid));
  });

  it("gives up memories that hold only common terms, which it does not score", () => {
    const db = corpus();
    // Of two terms the rarer ("often", 610 memories) is searched alone, "common" only beside it.
    const split = rareFirst(db).top(["common", "often"], 1000, false);
    const all = exhaustive(db).top(["common", "often"], 1000, false);
    const holdsOften = (rid: number) => (rid % 10 >= 1 && rid % 10 <= 3) || rid % 200 === 100;
    expect(all.some((r) => !holdsOften(r.rid))).toBe(true); // "common" alone matches there
    expect(split.every((r) => holdsOften(r.rid))).toBe(true);
    expect(split.length).toBe(610);
  });

  it("reads the neighbours' columns only for thread search, split or not", () => {
    const db = corpus();
    for (const ranker of [exhaustive(db), rareFirst(db)]) {
      expect(ranker.top(["rare", "common"], 100, false).some((r) => r.rid === 7)).toBe(false);
      expect(ranker.top(["rare", "common"], 100, true).some((r) => r.rid === 7)).toBe(true);
    }
  });

  it("ranks a rowid range with the whole index's scores: the parts' merged best are the whole's", () => {
    const db = corpus();
    const cuts = [Number.MIN_SAFE_INTEGER, 450, 1300, Number.MAX_SAFE_INTEGER];
    for (const ranker of [exhaustive(db), rareFirst(db)]) {
      for (const [terms, filter] of [
        [["rare", "common", "often"], null],
        [["common", "often"], { sql: "m.rid % 3 = 0", params: {} }],
      ] as const) {
        const whole = ranker.top([...terms], 40, true, filter);
        const parts = cuts
          .slice(1)
          .map((to, i) => ranker.top([...terms], 40, true, filter, undefined, { from: cuts[i], to }));
        for (const [i, part] of parts.entries())
          expect(part.every((r) => r.rid >= cuts[i] && r.rid < cuts[i + 1])).toBe(true);
        const merged = parts
          .flat()
          .sort((a, b) => b.score - a.score || a.rid - b.rid)
          .slice(0, 40);
        expect(merged.map((r) => r.rid)).toEqual(whole.map((r) => r.rid));
        for (const [i, r] of merged.entries()) expect(r.score).toBeCloseTo(whole[i].score, 9);
      }
    }
  });
});

describe("KeywordRanker with tm_bm25", () => {
  it("ranks and scores exactly as with bm25(), given or counting the terms' memories", () => {
    const counted = corpusOf("tm_bm25");
    const plain = corpusOf("bm25");
    const queries = [
      ["rare", "common", "often"],
      ["rare", "seldom", "common"],
      ["common", "often"],
      ["often"],
    ];
    for (const budget of [100, Infinity])
      for (const terms of queries)
        for (const [limit, thread] of [
          [10, false],
          [40, true],
          [2000, true],
        ] as const) {
          const got = new KeywordRanker(counted, new InformativeTerms(counted), { budget }).top(
            terms,
            limit,
            thread,
          );
          const want = new KeywordRanker(plain, new InformativeTerms(plain), { budget }).top(
            terms,
            limit,
            thread,
          );
          expect(got.map((r) => r.rid)).toEqual(want.map((r) => r.rid));
          for (const [i, r] of got.entries()) expect(r.score).toBeCloseTo(want[i].score, 12);
        }
  });
});
