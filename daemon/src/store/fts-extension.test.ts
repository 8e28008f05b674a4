import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { loadFtsScorer } from "./fts-extension.ts";
import { FTS_TABLE_SQL } from "./schema.ts";
import { KEYWORD_COLUMN_WEIGHTS } from "./sqlite-thread-fts.ts";

/** 4,000 rows of words drawn by Zipf's law from 300, in all four columns; tm_bm25 loaded. */
function corpus(): Database.Database {
  const db = new Database(":memory:");
  expect(loadFtsScorer(db)).toBe(true);
  db.exec(FTS_TABLE_SQL);
  let seed = 7;
  const random = () => {
    seed = (seed * 16807) % 2147483647;
    return seed / 2147483647;
  };
  const weights = Array.from({ length: 300 }, (_, i) => 1 / (i + 1));
  const total = weights.reduce((a, b) => a + b, 0);
  const word = () => {
    let r = random() * total;
    for (const [i, w] of weights.entries()) {
      r -= w;
      if (r <= 0) return `w${i}`;
    }
    return "w299";
  };
  const text = (max: number) => Array.from({ length: Math.floor(random() * max) }, word).join(" ");
  const insert = db.prepare(
    "INSERT INTO memories_fts (rowid, content, tags, prev, next) VALUES (?, ?, ?, ?, ?)",
  );
  db.transaction(() => {
    for (let rid = 1; rid <= 4000; rid++) insert.run(rid, text(30), text(3), text(20), text(20));
  })();
  return db;
}

interface Row {
  rid: number;
  score: number;
}

const count = (db: Database.Database, match: string) =>
  (
    db.prepare("SELECT count(*) AS n FROM memories_fts WHERE memories_fts MATCH ?").get(match) as {
      n: number;
    }
  ).n;

function both(db: Database.Database, match: string, hits: string, limit: number) {
  const from = "FROM memories_fts WHERE memories_fts MATCH @match ORDER BY score DESC, rid LIMIT @limit";
  const got = db
    .prepare(
      `SELECT rowid AS rid, -tm_bm25(memories_fts, @hits, @limit, ${KEYWORD_COLUMN_WEIGHTS}) AS score ${from}`,
    )
    .all({ match, hits, limit }) as Row[];
  const want = db
    .prepare(`SELECT rowid AS rid, -bm25(memories_fts, ${KEYWORD_COLUMN_WEIGHTS}) AS score ${from}`)
    .all({ match, limit }) as Row[];
  return { got, want };
}

let open: Database.Database | null = null;
afterEach(() => {
  open?.close();
  open = null;
});

describe("tm_bm25 (daemon/native/tm-fts5.c)", () => {
  it("returns bm25()'s best rows and scores, given the phrases' counts, over every column or some", () => {
    const db = corpus();
    open = db;
    const queries = [["w3", "w40", "w250"], ["w0", "w1"], ["w120", "w7", "w90", "w299"], ["w15"]];
    let compared = 0;
    for (const terms of queries)
      for (const columns of ["", "{content tags} : "])
        for (const and of [false, true])
          for (const limit of [1, 5, 40]) {
            const quoted = terms.map((t) => `"${t}"`);
            const expression =
              and && terms.length > 1
                ? `${quoted[0]} AND (${quoted.slice(1).join(" OR ")})`
                : quoted.join(" OR ");
            const match = columns ? `${columns}(${expression})` : expression;
            const hits = terms.map((t) => count(db, `${columns}"${t}"`)).join(" ");
            const { got, want } = both(db, match, hits, limit);
            expect(got.length).toBe(want.length);
            expect(got).toEqual(want);
            compared += got.length;
          }
    expect(compared).toBeGreaterThan(500);
  });

  it("counts a phrase itself where no count is given, as bm25() does", () => {
    const db = corpus();
    open = db;
    const match = '"w3" OR "w40" OR "w250"';
    const some = `${count(db, '"w3"')}`; // the first phrase's count only
    for (const hits of ["", some, "x y z"]) {
      const { got, want } = both(db, match, hits, 20);
      expect(got).toEqual(want);
    }
  });

  it("skips the size of rows that cannot reach the best `limit`, which score 0", () => {
    const db = corpus();
    open = db;
    const match = '"w0" OR "w30"';
    const hits = [count(db, '"w0"'), count(db, '"w30"')].join(" ");
    // In rowid order (no sort), once `limit` rows are scored the others must beat the worst kept.
    const rows = db
      .prepare(`SELECT rowid AS rid, -tm_bm25(memories_fts, ?, 5, ${KEYWORD_COLUMN_WEIGHTS}) AS score
                FROM memories_fts WHERE memories_fts MATCH ?`)
      .all(hits, match) as Row[];
    const exact = new Map(
      (
        db
          .prepare(`SELECT rowid AS rid, -bm25(memories_fts, ${KEYWORD_COLUMN_WEIGHTS}) AS score
                    FROM memories_fts WHERE memories_fts MATCH ?`)
          .all(match) as Row[]
      ).map((r) => [r.rid, r.score]),
    );
    const skipped = rows.filter((r) => r.score === 0);
    expect(skipped.length).toBeGreaterThan(rows.length / 2);
    for (const r of rows) if (r.score !== 0) expect(r.score).toBe(exact.get(r.rid));
    const best5 = [...exact.values()].sort((a, b) => b - a).slice(0, 5);
    for (const r of skipped) expect(exact.get(r.rid)).toBeLessThan(best5[4]);
  });
});
