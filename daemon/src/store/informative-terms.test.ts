import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { ftsMatchAny, InformativeTerms } from "./informative-terms.ts";

function corpus(n: number): Database.Database {
  const db = new Database(":memory:");
  db.exec(`CREATE TABLE memories (rid INTEGER PRIMARY KEY);
    CREATE VIRTUAL TABLE memories_fts USING fts5 (content, tags, content = '', contentless_delete = 1)`);
  const m = db.prepare("INSERT INTO memories (rid) VALUES (?)");
  const f = db.prepare("INSERT INTO memories_fts (rowid, content, tags) VALUES (?, ?, '')");
  db.transaction(() => {
    for (let i = 1; i <= n; i++) {
      m.run(i);
      // "common" is in 60% of memories, "rare" in 1%, "alpha" in 20%.
      f.run(
        i,
        `${i % 5 < 3 ? "common" : ""} ${i % 100 === 0 ? "rare" : ""} ${i % 5 === 0 ? "alpha" : ""} filler`,
      );
    }
  })();
  return db;
}

describe("InformativeTerms", () => {
  it("drops terms in half the memories or more, which BM25 weighs at ~0", () => {
    const terms = new InformativeTerms(corpus(2000));
    expect(terms.select(["common", "rare", "alpha"])).toEqual(["rare", "alpha"]);
  });

  it("keeps the rarest term when every term is common, and leaves stores under 100 memories alone", () => {
    expect(new InformativeTerms(corpus(2000)).select(["common", "filler"])).toEqual(["common"]);
    // A LoCoMo conversation's size: its speakers' names are in half its turns.
    expect(new InformativeTerms(corpus(400)).select(["common", "alpha"])).toEqual(["alpha"]);
    expect(new InformativeTerms(corpus(99)).select(["common", "alpha"])).toEqual(["common", "alpha"]);
  });

  it("counts the memories again once the store has grown by a hundredth, not at every query", () => {
    const db = corpus(2000);
    const terms = new InformativeTerms(db);
    expect(terms.docCount()).toBe(2000);
    const add = db.prepare("INSERT INTO memories (rid) VALUES (?)");
    for (let rid = 2001; rid <= 2010; rid++) add.run(rid);
    expect(terms.docCount()).toBe(2000); // 10 new rows: within a hundredth
    for (let rid = 2011; rid <= 2030; rid++) add.run(rid);
    expect(terms.docCount()).toBe(2030);
  });

  it("quotes terms so FTS5 operators stay words", () => {
    expect(ftsMatchAny(["and", 'say"hi', "near"])).toBe('"and" OR "say""hi" OR "near"');
  });
});
