import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { newActorId } from "@tribalmemory/shared/memory/document";
import { MemoryService } from "@tribalmemory/shared/service/memory-service";
import { sampleMemory } from "@tribalmemory/shared/testing/sample-memory";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FtsMerger } from "./fts-merge.ts";
import { SCHEMA_SQL } from "./schema.ts";
import { SqliteMemoryStore } from "./sqlite-store.ts";

/** Segments in the keyword index: the count in FTS5's structure record (row 10 of its data table). */
function segments(db: Database.Database): number {
  const { block } = db.prepare("SELECT block FROM memories_fts_data WHERE id = 10").get() as {
    block: Buffer;
  };
  // A 4-byte cookie, the 4-byte marker of the record's second version, then varints: levels, segments.
  let at = block[4] === 0xff ? 8 : 4;
  const varint = () => {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      const b = block[at++];
      value += (b & 0x7f) * 2 ** shift;
      if (!(b & 0x80)) return value;
    }
  };
  varint(); // levels
  return varint();
}

const topics = ["invoice", "deploy", "postgres", "lunch", "cron", "billing", "runner", "backup"];

describe("FtsMerger: a small store's keyword index in one segment", () => {
  let dir: string;
  let store: SqliteMemoryStore;
  let svc: MemoryService;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "tm-fts-merge-"));
    store = new SqliteMemoryStore({ path: join(dir, "memories.db"), readWorker: false });
    svc = new MemoryService({ store, actor: newActorId(), instanceId: "test" });
    // A memory at a time, as agents write: each transaction leaves a segment.
    for (let i = 0; i < 120; i++) {
      const memory = sampleMemory({ content: `${topics[i % 8]} note ${i}: ${topics[(i * 3) % 8]} again` });
      await svc.insertExact([{ memory }]);
    }
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const search = (terms: string[]) => store.keywordSearch(terms, 50, {}, { thread: true });

  it("merges once writes go quiet, and keyword search finds the same memories with the same scores", async () => {
    expect(segments(store.db)).toBeGreaterThan(4);
    const before = await Promise.all(topics.map((t) => search([t, "again"])));
    // The pass after the last write runs on its own, its idle wait and steps on timers.
    const deadline = Date.now() + 10_000;
    while (segments(store.db) > 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(segments(store.db)).toBe(1);
    const after = await Promise.all(topics.map((t) => search([t, "again"])));
    expect(after).toEqual(before);
  });

  it("finishes a pass that is due at a clean close", async () => {
    const path = join(dir, "memories.db");
    expect(segments(store.db)).toBeGreaterThan(4);
    await store.close();
    store = new SqliteMemoryStore({ path, readWorker: false });
    expect(segments(store.db)).toBe(1);
  });

  it("a pass that cannot write (a read-only connection here, a full disk in life) gives up quietly", async () => {
    // A folder of its own, no store open on it: the store's own pass (a quiet second after the
    // set-up's writes) merged the shared one first once on a loaded CI machine.
    const path = join(dir, "read-only.db");
    const writer = new Database(path);
    writer.exec(SCHEMA_SQL);
    const insert = writer.prepare("INSERT INTO memories_fts (rowid, content) VALUES (?, ?)");
    for (let i = 1; i <= 20; i++) insert.run(i, `${topics[i % 8]} note ${i}`); // a segment each
    writer.close();
    const readOnly = new Database(path, { readonly: true });
    try {
      const merger = new FtsMerger(readOnly, { idleMs: 1 });
      merger.wrote();
      // Thrown from its timer, the error would fail this run as an uncaught exception.
      await new Promise((r) => setTimeout(r, 100));
      expect(segments(readOnly)).toBeGreaterThan(4);
      merger.cancel();
    } finally {
      readOnly.close();
    }
  });

  it("leaves a store at or above its size limit to FTS5's own merging", async () => {
    // Segments written just now: the store's own pass waits a quiet second after the last write,
    // which a loaded machine could let pass between the set-up's writes and this test (seen in CI).
    for (let i = 0; i < 20; i++)
      await svc.insertExact([{ memory: sampleMemory({ content: `cron note ${i}` }) }]);
    const merger = new FtsMerger(store.db, { smallRows: 100 });
    merger.wrote();
    merger.finish();
    expect(segments(store.db)).toBeGreaterThan(4);
    const small = new FtsMerger(store.db, { smallRows: 1000 });
    small.wrote();
    small.finish();
    expect(segments(store.db)).toBe(1);
  });
});
