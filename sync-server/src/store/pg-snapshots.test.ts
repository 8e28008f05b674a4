import { createMemoryDoc, newActorId } from "@tribalmemory/shared/memory/document";
import { sampleMemory } from "@tribalmemory/shared/testing/sample-memory";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type RelayDatabase } from "./database.ts";
import { recordDeviceCursor } from "./pg-accounting.ts";
import { createWorkspace } from "./pg-keys.ts";
import { logBounds, pruneLogIn, readPurgedPageIn, readSnapshotPageIn } from "./pg-snapshots.ts";
import { PgMemoryStore } from "./pg-store.ts";

/**
 * The relay's snapshot pages and log pruning on an embedded PostgreSQL (PGlite): the rules that
 * decide what may be deleted, and that a reader below the pruned horizon is refused, not served
 * a log with holes. test/sync/snapshot-bootstrap.test.ts runs the same with real daemons.
 */
describe("relay snapshot and change-log pruning", () => {
  let db: RelayDatabase;
  beforeAll(async () => {
    db = await openDatabase({});
  }, 60_000);
  afterAll(async () => {
    await db?.close();
  });

  async function workspaceWith(n: number) {
    const { workspaceId } = await createWorkspace(db, { name: "prune" });
    const store = new PgMemoryStore(db, workspaceId, { actor: newActorId() });
    const actor = newActorId();
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const w = createMemoryDoc(sampleMemory({ content: `the ${i}th heron nests by the weir` }), actor);
      ids.push(w.change.docId);
      const out = await store.ingest([{ change: w.change }], "writer");
      expect(out.error).toBeNull();
    }
    const inWs = <T>(fn: Parameters<RelayDatabase["tx"]>[1]) => db.tx(workspaceId, fn) as Promise<T>;
    return { workspaceId, store, ids, inWs };
  }

  it("deletes only below every active device's cursor; a stale device stops holding it; young changes stay", async () => {
    const { workspaceId, store, inWs } = await workspaceWith(12);
    await recordDeviceCursor(db, workspaceId, "laptop", null, 8);
    await recordDeviceCursor(db, workspaceId, "old-phone", null, 2);
    const prune = (staleDeviceMs: number, keepMs: number, batch?: number) =>
      db.tx(workspaceId, (sql) => pruneLogIn(sql, workspaceId, { staleDeviceMs, keepMs, batch }));
    // Every change is younger than a day: nothing goes.
    expect(await prune(3_600_000, 86_400_000)).toMatchObject({ deleted: 0, horizon: 0 });
    // The old phone (seen just now) holds the log at 2.
    expect(await prune(3_600_000, 0)).toMatchObject({ deleted: 2, horizon: 2, more: false });
    // Seen two hours ago, past one hour of staleness: the laptop's 8 holds it, in batches of 4.
    await inWs((sql) =>
      sql.query("UPDATE devices SET last_seen_at = now() - interval '2 hours' WHERE device_id = 'old-phone'"),
    );
    expect(await prune(3_600_000, 0, 4)).toMatchObject({ deleted: 4, horizon: 6, more: true });
    expect(await prune(3_600_000, 0, 4)).toMatchObject({ deleted: 2, horizon: 8, more: false });
    expect(await prune(3_600_000, 0, 4)).toMatchObject({ deleted: 0, horizon: 8 });
    expect(await inWs((sql) => logBounds(sql, workspaceId))).toEqual({ head: 12, horizon: 8 });

    // A reader below the horizon is refused (the log has holes there); at it, it reads on.
    await expect(store.readLog(2, 100)).rejects.toMatchObject({ code: "SYNC_CURSOR_PRUNED" });
    await expect(store.readLog(0, 100)).rejects.toMatchObject({ code: "SYNC_CURSOR_PRUNED" });
    const page = await store.readLog(8, 100);
    expect(page.entries.map((e) => e.seq)).toEqual([9, 10, 11, 12]);
  }, 60_000);

  it("snapshot pages hold every memory's document within the byte budget; purged ids come apart", async () => {
    const { workspaceId, store, ids } = await workspaceWith(9);
    expect(await store.purge(ids[3])).toBe(true);
    const seen: string[] = [];
    let after = "";
    let pages = 0;
    for (;;) {
      const page = await db.tx(workspaceId, (sql) => readSnapshotPageIn(sql, workspaceId, after, 500, 1024));
      pages++;
      seen.push(...page.docs.map((d) => d.doc_id));
      // The same saved document the store holds, byte for byte.
      const first = page.docs[0];
      if (first)
        expect(Buffer.from(first.bytes, "base64")).toEqual(
          Buffer.from((await store.getDoc(first.doc_id)) as Uint8Array),
        );
      if (!page.more) break;
      after = page.last as string;
    }
    expect(pages).toBeGreaterThan(2);
    expect(seen).toEqual(ids.filter((id) => id !== ids[3]).sort());
    const purged = await db.tx(workspaceId, (sql) => readPurgedPageIn(sql, workspaceId, "", 10));
    expect(purged).toEqual({ ids: [ids[3]], more: false });
  }, 60_000);
});
