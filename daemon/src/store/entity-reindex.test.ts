import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { newActorId } from "@tribalmemory/shared/memory/document";
import { MemoryService } from "@tribalmemory/shared/service/memory-service";
import { ENTITY_INDEX_VERSION } from "@tribalmemory/shared/store/memory-rows";
import { sampleMemory } from "@tribalmemory/shared/testing/sample-memory";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ENTITY_CURSOR_META, ENTITY_VERSION_META } from "./entity-reindex.ts";
import { SqliteMemoryStore } from "./sqlite-store.ts";

const MEMORIES = 1500;
const content = (i: number) =>
  `Priya moved ledger-api ${i} to postgres; on Friday Marcus rolled back gateway-${i % 40} v1.${i}.`;

/** What the index holds: memory links, entities, aliases and event dates, as comparable lists. */
function indexOf(path: string) {
  const db = new Database(path, { readonly: true });
  try {
    const all = (sql: string) => db.prepare(sql).raw().all();
    return {
      links: all(
        "SELECT m.id, e.name FROM memory_entities me JOIN entities e ON e.eid = me.eid JOIN memories m ON m.rid = me.rid ORDER BY 1, 2",
      ),
      entities: all("SELECT name, type FROM entities ORDER BY name"),
      aliases: all(
        "SELECT a.alias, e.name FROM entity_aliases a JOIN entities e ON e.eid = a.eid ORDER BY 1, 2",
      ),
      dates: all(
        "SELECT m.id, d.start_ms, d.end_ms FROM memory_event_dates d JOIN memories m ON m.rid = d.rid ORDER BY 1, 2",
      ),
    };
  } finally {
    db.close();
  }
}

describe("an entity index of an older release (entity-reindex.ts)", () => {
  let dir: string;
  let path: string;
  let store: SqliteMemoryStore | null = null;
  let fresh: ReturnType<typeof indexOf>;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "tm-entity-reindex-"));
    path = join(dir, "memories.db");
    store = new SqliteMemoryStore({ path });
    const svc = new MemoryService({ store, actor: newActorId(), instanceId: "test" });
    const day = Date.UTC(2026, 2, 3);
    await svc.insertExact(
      Array.from({ length: MEMORIES }, (_, i) => ({
        memory: sampleMemory({
          content: content(i),
          created_at: new Date(day + (i % 30) * 86_400_000).toISOString(),
        }),
      })),
    );
    await store.close();
    store = null;
    fresh = indexOf(path);
    // As an older release left it: its version, other event dates, links missing, an entity no
    // memory names any more.
    const db = new Database(path);
    db.exec(`UPDATE meta SET value = '${ENTITY_INDEX_VERSION - 1}' WHERE key = '${ENTITY_VERSION_META}';
      DELETE FROM memory_event_dates; DELETE FROM memory_entities WHERE rid % 3 = 0;
      INSERT INTO entities (name, type) VALUES ('stale-service', 'service');
      INSERT INTO entity_aliases (alias, eid) SELECT 'stale', eid FROM entities WHERE name = 'stale-service';`);
    db.close();
  });
  afterEach(async () => {
    await store?.close();
    store = null;
    rmSync(dir, { recursive: true, force: true });
  });

  it("is re-extracted in the background: the store answers at once, and ends with what a fresh index holds", async () => {
    store = new SqliteMemoryStore({ path });
    // Not re-extracted while the store opened (the old code did it all in the constructor).
    expect(store.getMeta(ENTITY_VERSION_META)).toBe(String(ENTITY_INDEX_VERSION - 1));
    expect(store.entityReindex.current).toBe(false);
    expect(store.entityReindex.status()).toEqual({ state: "reindexing", cursor: 0 });
    // It answers meanwhile.
    expect(await store.keywordSearch(["postgres"], 5, {})).toHaveLength(5);
    // The pass moves on in steps, on timers.
    await vi.waitFor(() => expect(Number(store?.getMeta(ENTITY_CURSOR_META))).toBeGreaterThan(0), {
      timeout: 10_000,
    });
    await vi.waitFor(() => expect(store?.entityReindex.current).toBe(true), { timeout: 30_000 });
    expect(store.getMeta(ENTITY_CURSOR_META)).toBe("0");
    expect(store.entityReindex.status()).toEqual({ state: "current" });
    await store.close();
    store = null;
    expect(indexOf(path)).toEqual(fresh);
  });

  it("resumes where it stopped when the store is opened again", async () => {
    store = new SqliteMemoryStore({ path });
    store.entityReindex.stop();
    store.entityReindex.step();
    const cursor = Number(store.getMeta(ENTITY_CURSOR_META));
    expect(cursor).toBeGreaterThan(0);
    expect(cursor).toBeLessThan(MEMORIES);
    await store.close();
    store = new SqliteMemoryStore({ path });
    store.entityReindex.stop();
    // The next step starts after the cursor.
    store.entityReindex.step();
    expect(Number(store.getMeta(ENTITY_CURSOR_META))).toBeGreaterThan(cursor);
    store.entityReindex.finish();
    await store.close();
    store = null;
    expect(indexOf(path)).toEqual(fresh);
  });
});
