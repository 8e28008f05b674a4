import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { MemoryRowCount } from "./memory-row-count.ts";
import { SCHEMA_SQL } from "./schema.ts";

describe("the memory row count behind IDF", () => {
  it("is counted again only once the highest rowid has moved by a hundredth", () => {
    const db = new Database(":memory:");
    db.exec(SCHEMA_SQL);
    const insert = db.prepare(
      `INSERT INTO memories (id, content, content_hash, dedup_key, source_type, source_instance, tags, confidence,
         created_at, updated_at, created_ms)
       VALUES (?, 'x', 'h', ?, 'import', 'i', '[]', 1, '2026-01-01', '2026-01-01', 0)`,
    );
    const add = (n: number) => {
      const from = (db.prepare("SELECT count(*) FROM memories").pluck().get() as number) + 1;
      db.transaction(() => {
        for (let i = from; i < from + n; i++) insert.run(`m${i}`, `k${i}`);
      })();
    };
    const count = new MemoryRowCount(db);
    add(1000);
    expect(count.get()).toBe(1000);
    add(10); // a hundredth: IDF barely moves, the count of 1,000 is kept
    expect(count.get()).toBe(1000);
    add(1);
    expect(count.get()).toBe(1011);
    db.close();
  });
});
