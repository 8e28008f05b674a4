import type Database from "better-sqlite3";

/**
 * Memory rows in the store, deleted included: the N of IDF, for keyword terms
 * (informative-terms.ts) and for entities (sqlite-entities.ts). Counting scans an index: 0.02 ms
 * at 100k rows but 9–18 ms at 1M, which each recall paid. So the count is kept until the highest
 * rowid (an O(log n) lookup) has moved by a hundredth of it: IDF barely moves within that.
 */
export class MemoryRowCount {
  private readonly db: Database.Database;
  private countAll: Database.Statement | null = null;
  private maxRid: Database.Statement | null = null;
  private counted: { docs: number; top: number } | null = null;

  constructor(db: Database.Database) {
    this.db = db;
  }

  get(): number {
    this.maxRid ??= this.db.prepare("SELECT coalesce(max(rid), 0) FROM memories").pluck();
    const top = this.maxRid.get() as number;
    const known = this.counted;
    if (known && Math.abs(top - known.top) * 100 <= known.docs) return known.docs;
    this.countAll ??= this.db.prepare("SELECT count(*) FROM memories").pluck();
    const docs = this.countAll.get() as number;
    this.counted = { docs, top };
    return docs;
  }
}
