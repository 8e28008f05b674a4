import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { openDatabase } from "@tribalmemory/sync-server";
import { afterAll, describe, expect, it } from "vitest";
import { startTestDaemon, tempHome } from "../helpers/daemon.ts";
import {
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
} from "../sync/harness.ts";

/** Every file under `dir` (recursively) whose bytes contain `marker`. */
function filesHolding(dir: string, marker: string): string[] {
  const needle = Buffer.from(marker, "utf8");
  const hits: string[] = [];
  const walk = (path: string) => {
    for (const name of readdirSync(path)) {
      const full = join(path, name);
      let st: ReturnType<typeof statSync>;
      try {
        st = statSync(full);
      } catch {
        continue; // removed while walking
      }
      if (st.isDirectory()) walk(full);
      else if (st.isFile()) {
        try {
          if (readFileSync(full).includes(needle)) hits.push(full.slice(dir.length + 1));
        } catch {
          // removed while walking
        }
      }
    }
  };
  walk(dir);
  return hits;
}

/**
 * The table files of a real Postgres server (its `base/` folder), when the tests run beside
 * it as a user that can read them. WAL (`pg_wal/`) is left out: a server's checkpointer keeps
 * old segments until it recycles them, with whatever they logged (see scrubStatements).
 */
async function postgresTableFolder(): Promise<string | null> {
  const url = process.env.TEST_DATABASE_URL;
  if (!url) return null;
  const db = await openDatabase({ databaseUrl: url, migrate: false, poolSize: 1 });
  try {
    const [row] = await db.tx(null, (sql) =>
      sql.query<{ dir: string }>("SELECT current_setting('data_directory') AS dir"),
    );
    const base = join(row.dir, "base");
    try {
      readdirSync(base);
      return base;
    } catch {
      return null; // another user's files
    }
  } finally {
    await db.close();
  }
}

/** Lower-case letters and digits only, so every index (FTS tokens, entity names) keeps it whole. */
const newMarker = () => `zq${randomBytes(8).toString("hex")}zq`;

/**
 * Issue 8, bug 15: a purge must leave the memory's text in no file. The daemon's purge only
 * hid the memory, and the relay's left the text in its table files and WAL until a vacuum.
 */
describe("purge leaves no bytes behind", () => {
  const homes: { cleanup: () => void }[] = [];
  afterAll(() => {
    for (const h of homes) h.cleanup();
  });

  it("on a daemon: DELETE /v1/memories/:id?purge=true removes the text from every file of the data folder", async () => {
    const h = tempHome();
    homes.push(h);
    const d = await startTestDaemon(h.home);
    try {
      const marker = newMarker();
      for (let i = 0; i < 40; i++) {
        await d.api.post("/v1/remember", {
          content: `filler memory ${i} about the build pipeline`,
          tags: ["f"],
        });
      }
      const id = (
        await d.api.post<{ memory_id: string }>("/v1/remember", {
          content: `The vault passphrase hint is ${marker} for Project ${marker}`,
          tags: [marker, "secret"],
          context: { note: marker },
        })
      ).body.memory_id;
      // An edit and a forget: older versions of the row, FTS entries and document linger too.
      await d.api.post("/v1/import", {
        bundle: {
          manifest: { schema_version: "1.0" },
          entries: [{ id, content: `Updated hint: ${marker} (rotated)`, tags: [marker] }],
        },
        conflict_resolution: "overwrite",
      });
      expect((await d.api.post("/v1/recall", { query: marker })).body.results[0]?.memory.id).toBe(id);
      await d.api.post("/v1/forget", { memory_id: id });
      const data = join(h.home, "data");
      expect(filesHolding(data, marker).length).toBeGreaterThan(0); // the scan sees it before

      const purged = await d.api.del(`/v1/memories/${id}?purge=true`);
      expect(purged.status).toBe(200);
      expect(purged.body).toMatchObject({ purged: true, memory_id: id });
      expect((await d.api.get(`/v1/memories/${id}`)).status).toBe(404);
      expect(filesHolding(data, marker)).toEqual([]);
      // The store still works and keeps everything else.
      expect((await d.api.get("/v1/stats")).body.total_memories).toBe(40);
      const again = await d.api.post<{ memory_id: string }>("/v1/remember", { content: "after the purge" });
      expect(again.status).toBe(201);
    } finally {
      await d.close();
    }
  });

  it("on the relay (PGlite) and on every daemon the purge tombstone reaches", async () => {
    const dir = tempDir("tm-purge-");
    homes.push({ cleanup: dir.remove });
    const relayFolder = `${dir.path}/relay`;
    const db = relayDb(relayFolder);
    const onPglite = !process.env.TEST_APP_DATABASE_URL;
    const port = await freePort();
    const key = (await relayInit(db)).apiKey;
    let relay: RelayProcess | null = null;
    let a: DaemonProcess | null = null;
    let b: DaemonProcess | null = null;
    try {
      relay = await startRelayProcess(db, port);
      [a, b] = await Promise.all([
        startDaemonProcess({ home: `${dir.path}/a`, relayUrl: relay.url, apiKey: key, instance: "agent@a" }),
        startDaemonProcess({ home: `${dir.path}/b`, relayUrl: relay.url, apiKey: key, instance: "agent@b" }),
      ]);
      const [da, db2] = [a, b];
      const marker = newMarker();
      const id = (
        await da.call<{ memory_id: string }>("POST", "/v1/remember", {
          content: `Customer record for Acme ${marker}: account closed`,
          tags: [marker],
        })
      ).body.memory_id;
      await waitFor(
        "B to hold it",
        async () => (await db2.call("GET", `/v1/memories/${id}`)).status === 200,
        30_000,
      );
      const relayUrl = relay.url;
      expect((await api(relayUrl, "GET", `/v1/memories/${id}`, undefined, key)).status).toBe(200);
      if (onPglite) expect(filesHolding(relayFolder, marker).length).toBeGreaterThan(0);

      const started = performance.now();
      const purge = await api(relayUrl, "DELETE", `/v1/memories/${id}?purge=true`, undefined, key);
      console.log(`relay purge answered in ${Math.round(performance.now() - started)} ms`);
      expect(purge.status).toBe(200);
      if (onPglite) expect(filesHolding(relayFolder, marker)).toEqual([]);
      const pgBase = onPglite ? null : await postgresTableFolder();
      if (pgBase) expect(filesHolding(pgBase, marker)).toEqual([]);
      if (!onPglite) console.log(`postgres table files scanned: ${pgBase ?? "not readable here"}`);
      await waitFor(
        "purge on A and B",
        async () =>
          (await Promise.all([da, db2].map((d) => d.call("GET", `/v1/memories/${id}`)))).every(
            (r) => r.status === 404,
          ),
        30_000,
      );
      // The daemons checkpoint right after applying the purge batch.
      await waitFor(
        "no file of A or B to hold the text",
        async () =>
          filesHolding(join(da.home, "data"), marker).length === 0 &&
          filesHolding(join(db2.home, "data"), marker).length === 0,
        10_000,
      ).catch(() => undefined);
      expect(filesHolding(join(da.home, "data"), marker)).toEqual([]);
      expect(filesHolding(join(db2.home, "data"), marker)).toEqual([]);
    } finally {
      await Promise.all([a?.kill(), b?.kill(), relay?.kill()]);
    }
  }, 120_000);
});
