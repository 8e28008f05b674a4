import { join } from "node:path";
import { loadMemoryDoc, materializeMemory, newActorId } from "@tribalmemory/shared/memory/document";
import { changesOfSavedDoc } from "@tribalmemory/shared/sync/snapshot";
import { openDatabase } from "@tribalmemory/sync-server";
import { LogPruner } from "@tribalmemory/sync-server/sync/log-pruner";
import Database from "better-sqlite3";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import {
  allSynced,
  api,
  type DaemonProcess,
  freePort,
  type RelayProcess,
  relayDb,
  relayInit,
  startDaemonProcess,
  startRelayProcess,
  tempDir,
  waitFor,
} from "./harness.ts";

/**
 * Bootstrap by snapshot + tail (sync protocol 3) and change-log pruning, with a real relay and
 * real daemon processes on loopback. A daemon's state is read from its own SQLite file: each
 * memory's document (its change hashes, so its heads) and the row it materialises to.
 */

interface DocState {
  changes: string[];
  content: string;
  tags: string[];
  deleted: boolean;
  supersedes: string | null;
}

/** Every memory document a daemon holds: its change hashes (sorted) and its materialised fields. */
function docsOf(d: DaemonProcess): Map<string, DocState> {
  const db = new Database(join(d.home, "data", "memories.db"), { readonly: true, fileMustExist: true });
  try {
    const rows = db
      .prepare("SELECT m.id, d.bytes FROM memories m JOIN docs d ON d.rid = m.rid ORDER BY m.id")
      .all() as { id: string; bytes: Buffer }[];
    return new Map(
      rows.map((r) => {
        const bytes = new Uint8Array(r.bytes);
        const m = materializeMemory(loadMemoryDoc(bytes, newActorId()));
        const changes = changesOfSavedDoc(r.id, bytes)
          .map((c) => c.hash)
          .sort();
        return [
          r.id,
          { changes, content: m.content, tags: m.tags, deleted: m.deleted, supersedes: m.supersedes },
        ];
      }),
    );
  } finally {
    db.close();
  }
}

const status = async (d: DaemonProcess) =>
  (await d.call<{ state: string; outbox: number; cursor: number }>("GET", "/v1/sync/status")).body;

/** The messages a raw protocol client receives until `live`. */
async function rawBootstrap(
  url: string,
  key: string,
  protocol: number,
  cursor: number,
): Promise<{ types: string[]; error: string | null; docs: number }> {
  const ws = new WebSocket(`${url.replace("http", "ws")}/v1/sync`, {
    headers: { authorization: `Bearer ${key}` },
  });
  const types: string[] = [];
  let docs = 0;
  return new Promise((resolve, reject) => {
    const done = (error: string | null) => {
      ws.terminate();
      resolve({ types, error, docs });
    };
    ws.on("error", reject);
    ws.on("open", () =>
      ws.send(
        JSON.stringify({ type: "hello", protocol, device: `raw-${protocol}`, actor: newActorId(), cursor }),
      ),
    );
    ws.on("message", (data) => {
      const m = JSON.parse(data.toString()) as {
        type: string;
        cursor?: number;
        code?: string;
        docs?: unknown[];
      };
      types.push(m.type);
      if (m.type === "snapshot") docs += m.docs?.length ?? 0;
      if (m.type === "changes" || m.type === "snapshot")
        ws.send(JSON.stringify({ type: "applied", cursor: m.cursor }));
      if (m.type === "live") done(null);
      if (m.type === "error") done(m.code ?? "error");
    });
  });
}

describe("bootstrap by snapshot + tail", () => {
  const dir = tempDir("tm-snapshot-");
  const db = relayDb(join(dir.path, "relay"));
  const procs: (RelayProcess | DaemonProcess)[] = [];
  let relay: RelayProcess;
  let key: string;
  let workspaceId: string;
  let a: DaemonProcess;
  const pageBytes = process.env.TRIBAL_MEMORY_SYNC_PAGE_BYTES;

  beforeAll(async () => {
    // Small pages, so a bootstrap of a few dozen memories spans many of them.
    process.env.TRIBAL_MEMORY_SYNC_PAGE_BYTES = "4096";
    ({ apiKey: key, workspaceId } = await relayInit(db));
    relay = await startRelayProcess(db, await freePort());
    a = await startDaemonProcess({
      home: join(dir.path, "a"),
      relayUrl: relay.url,
      apiKey: key,
      instance: "agent@a",
    });
    procs.push(relay, a);
  }, 90_000);

  afterAll(async () => {
    if (pageBytes === undefined) delete process.env.TRIBAL_MEMORY_SYNC_PAGE_BYTES;
    else process.env.TRIBAL_MEMORY_SYNC_PAGE_BYTES = pageBytes;
    await Promise.all(procs.map((p) => p.kill()));
    dir.remove();
  });

  it("a new daemon ends with exactly the documents and heads of a replayed one, while writes go on", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 30; i++)
      ids.push(
        (
          await a.call<{ memory_id: string }>("POST", "/v1/remember", {
            content: `fact ${i} about the otter fleet`,
          })
        ).body.memory_id,
      );
    // Edits of existing documents: a duplicate remember merges tags, a correction, a forget.
    await a.call("POST", "/v1/remember", { content: "fact 1 about the otter fleet", tags: ["merged"] });
    await a.call("POST", "/v1/correct", { original_id: ids[2], corrected_content: "fact 2 was wrong" });
    await a.call("POST", "/v1/forget", { memory_id: ids[3] });
    await waitFor("A synced", () => allSynced([a]), 30_000);
    // A memory written on the relay, and one purged there.
    await api(relay.url, "POST", "/v1/remember", { content: "written on the relay itself" }, key);
    const purged = await api(relay.url, "DELETE", `/v1/memories/${ids[4]}?purge=true`, undefined, key);
    expect(purged.status).toBeLessThan(300);
    await waitFor("A live", async () => (await status(a)).state === "live");

    const [s, r] = await Promise.all([
      startDaemonProcess({
        home: join(dir.path, "s"),
        relayUrl: relay.url,
        apiKey: key,
        instance: "agent@s",
      }),
      startDaemonProcess({
        home: join(dir.path, "r"),
        relayUrl: relay.url,
        apiKey: key,
        instance: "agent@r",
        env: { TRIBAL_MEMORY_SYNC_SNAPSHOT: "0" },
      }),
    ]);
    procs.push(s, r);
    // Written while the two bootstrap: they arrive with the tail.
    for (let i = 0; i < 5; i++)
      await a.call("POST", "/v1/remember", { content: `late fact ${i} about badgers` });
    await waitFor("all three synced", () => allSynced([a, s, r]), 60_000);
    await waitFor("same memory count", async () => {
      const n = await Promise.all(
        [a, s, r].map(
          async (d) => (await d.call<{ memory_count: number }>("GET", "/v1/health")).body.memory_count,
        ),
      );
      return n[0] === n[1] && n[1] === n[2];
    });

    const [onA, onS, onR] = [docsOf(a), docsOf(s), docsOf(r)];
    expect(onS.size).toBe(36); // 30 + correction + relay's + 5 late − the purged one
    expect(onS).toEqual(onR);
    expect(onS).toEqual(onA);
    expect(onS.has(ids[4])).toBe(false);
    expect(onS.get(ids[3])?.deleted).toBe(true);
    expect(onS.get(ids[1])?.tags).toContain("merged");
    expect((await status(s)).cursor).toBe((await status(r)).cursor);
  }, 180_000);

  it("a protocol-3 client with no cursor is sent snapshot pages; an older client is replayed the log", async () => {
    const v3 = await rawBootstrap(relay.url, key, 3, 0);
    expect(v3.error).toBeNull();
    expect(v3.types[0]).toBe("welcome");
    expect(v3.types.filter((t) => t === "snapshot").length).toBeGreaterThan(2);
    expect(v3.docs).toBe(36);
    expect(v3.types.at(-1)).toBe("live");
    const v2 = await rawBootstrap(relay.url, key, 2, 0);
    expect(v2.error).toBeNull();
    expect(v2.types).not.toContain("snapshot");
    expect(v2.types).toContain("changes");
  }, 60_000);

  // Pruning is checked against a server database the test reads beside the relay process.
  it.skipIf(!process.env.TEST_APP_DATABASE_URL)(
    "pruning keeps what an active device needs; a stale device re-bootstraps from the snapshot and its offline writes survive",
    async () => {
      const relayDatabase = await openDatabase({
        databaseUrl: process.env.TEST_APP_DATABASE_URL,
        adminDatabaseUrl: process.env.TEST_DATABASE_URL,
      });
      const inWorkspace = <T>(text: string, params: unknown[] = []) =>
        relayDatabase.tx(workspaceId, (sql) => sql.query<T>(text, [workspaceId, ...params]));
      const cursorOf = async (device: string) =>
        Number(
          (
            await inWorkspace<{ c: string }>(
              "SELECT cursor::text AS c FROM devices WHERE workspace_id = $1 AND device_id = $2",
              [device],
            )
          )[0].c,
        );
      const bounds = async () =>
        (
          await inWorkspace<{ head: number; horizon: number; rows: number }>(
            `SELECT (next_seq - 1)::float8 AS head, log_horizon::float8 AS horizon,
               (SELECT count(*) FROM changes WHERE workspace_id = $1)::float8 AS rows FROM workspaces WHERE id = $1`,
          )
        )[0];
      const pruner = new LogPruner({
        db: relayDatabase,
        log: pino({ level: "silent" }),
        settings: { enabled: true, staleDeviceMs: 3_600_000, keepMs: 0, intervalMs: 1 },
      });
      const pruneAll = async () => {
        pruner.touch(workspaceId);
        for (let i = 0; i < 20 && (await pruner.pass(Date.now() + 1000)) > 0; i++);
      };
      const write = (d: DaemonProcess, content: string) => d.call("POST", "/v1/remember", { content });
      const start = (name: string, relayUrl = relay.url) =>
        startDaemonProcess({ home: join(dir.path, name), relayUrl, apiKey: key, instance: `agent@${name}` });
      try {
        let [b, c] = await Promise.all([start("b"), start("c")]);
        procs.push(b, c);
        await waitFor("B and C synced", () => allSynced([a, b, c]), 60_000);
        const deviceB = (await b.call<{ device: string }>("GET", "/v1/sync/status")).body.device;
        const deviceC = (await c.call<{ device: string }>("GET", "/v1/sync/status")).body.device;
        await b.kill();
        await write(a, "written after B left: the heron count");
        await waitFor("C has it", async () => (await allSynced([a, c])) && docsOf(c).size === docsOf(a).size);
        await waitFor("C's cursor recorded", async () => (await cursorOf(deviceC)) === (await bounds()).head);
        await c.kill();
        for (let i = 0; i < 3; i++) await write(a, `written after C left: kestrel ${i}`);
        await waitFor("A synced", () => allSynced([a]));
        // B (and the raw clients of the test before) were last seen two hours ago: past the
        // one-hour staleness, they no longer hold the log; the live daemons are at its head.
        await inWorkspace(
          "UPDATE devices SET last_seen_at = now() - interval '2 hours' WHERE workspace_id = $1 AND device_id <> $2",
          [deviceC],
        );
        // B writes while offline (its relay is a closed port).
        b = await start("b", `http://127.0.0.1:${await freePort()}`);
        procs.push(b);
        await write(b, "offline on B: the lighthouse key is under the mat");
        await write(b, "offline on B: the boat leaves at noon");
        await b.kill();

        // C (seen recently) holds the horizon at its cursor: what it still needs stays.
        const before = await bounds();
        await pruneAll();
        const held = await bounds();
        expect(held.horizon).toBe(await cursorOf(deviceC));
        expect(held.horizon).toBeGreaterThan(await cursorOf(deviceB));
        expect(held.rows).toBeLessThan(before.rows);
        expect(held.rows).toBeGreaterThanOrEqual(3);
        c = await start("c");
        procs.push(c);
        await waitFor("C caught up by replay", () => allSynced([a, c]), 60_000);
        expect(docsOf(c)).toEqual(docsOf(a));

        // Every active device is at the head now: the whole log goes.
        await waitFor("C's cursor recorded", async () => (await cursorOf(deviceC)) === (await bounds()).head);
        await pruneAll();
        const pruned = await bounds();
        expect(pruned.horizon).toBe(pruned.head);
        expect(pruned.rows).toBe(0);

        // B comes back below the horizon: snapshot, and its offline writes reach everyone.
        b = await start("b");
        procs.push(b);
        await waitFor("B, A and C synced", () => allSynced([a, b, c]), 60_000);
        await waitFor("B's writes on A and C", async () => {
          const n = await Promise.all([a, b, c].map((d) => docsOf(d).size));
          return n[0] === n[1] && n[1] === n[2];
        });
        const onA = docsOf(a);
        expect(docsOf(b)).toEqual(onA);
        expect(docsOf(c)).toEqual(onA);
        expect([...onA.values()].filter((m) => m.content.startsWith("offline on B")).length).toBe(2);
        expect((await status(b)).cursor).toBeGreaterThanOrEqual(pruned.head);

        // A change pruned from the log, pushed again (an ack that never arrived): still a duplicate.
        const local = new Database(join(a.home, "data", "memories.db"), { readonly: true });
        const old = local
          .prepare(
            "SELECT doc_id, hash, deps, bytes FROM changes WHERE origin = 'local' ORDER BY seq LIMIT 1",
          )
          .get() as { doc_id: string; hash: string; deps: string; bytes: Buffer };
        local.close();
        const resend = await api<{ results: { status: string }[] }>(
          relay.url,
          "POST",
          "/v1/sync/push",
          {
            device: "resender",
            changes: [
              {
                doc_id: old.doc_id,
                hash: old.hash,
                deps: JSON.parse(old.deps),
                bytes: old.bytes.toString("base64"),
              },
            ],
          },
          key,
        );
        expect(resend.status).toBe(200);
        expect(resend.body.results[0].status).toBe("duplicate");
        expect((await bounds()).rows).toBeLessThanOrEqual(2);

        // A socket replaying the log when pruning passes it (counted stale meanwhile): it is
        // switched to the snapshot where it stands, and still ends live.
        for (let i = 0; i < 12; i++) await write(a, `a long tail entry ${i} about the osprey`);
        await waitFor("A synced", () => allSynced([a]));
        const got: { type: string; cursor?: number }[] = [];
        const ws = new WebSocket(`${relay.url.replace("http", "ws")}/v1/sync`, {
          headers: { authorization: `Bearer ${key}` },
        });
        ws.on("message", (d) => got.push(JSON.parse(d.toString())));
        await new Promise((r) => ws.once("open", r));
        const from = (await bounds()).horizon;
        ws.send(
          JSON.stringify({
            type: "hello",
            protocol: 3,
            device: "slow-reader",
            actor: newActorId(),
            cursor: from,
            snapshot: false,
          }),
        );
        await waitFor(
          "two pages in flight",
          async () => got.filter((m) => m.type === "changes").length === 2,
        );
        await inWorkspace(
          "UPDATE devices SET last_seen_at = now() - interval '2 hours' WHERE workspace_id = $1 AND device_id = 'slow-reader'",
        );
        await pruneAll();
        expect((await bounds()).horizon).toBeGreaterThan(got[2]?.cursor ?? from);
        const ack = (m: { type: string; cursor?: number }) =>
          ws.send(JSON.stringify({ type: "applied", cursor: m.cursor }));
        ws.on("message", (d) => {
          const m = JSON.parse(d.toString()) as { type: string; cursor?: number };
          if (m.type === "changes" || m.type === "snapshot") ack(m);
        });
        for (const m of got.filter((x) => x.type === "changes")) ack(m);
        await waitFor("the slow reader live", async () => got.some((m) => m.type === "live"));
        ws.close();
        const types = got.map((m) => m.type);
        expect(types.indexOf("snapshot")).toBeGreaterThan(types.indexOf("changes"));
        expect(got.find((m) => m.type === "live")?.cursor).toBe((await bounds()).head);
      } finally {
        await pruner.stop();
        await relayDatabase.close();
      }
    },
    240_000,
  );
});
