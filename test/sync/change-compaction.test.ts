import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  allSynced,
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
 * Issue 14 (item 2): the daemon kept every Automerge change in `changes` forever, so a memory
 * edited 1,000 times held 1,000 rows on every device. Once the relay holds a memory's changes
 * they are compacted into its saved document: the log stays bounded per memory, and the
 * document keeps the whole history. Real daemons and a real relay on loopback.
 */
const EDITS = 80;

interface MemoryJson {
  id: string;
  content: string;
  tags: string[];
}

function changeRows(home: string, docId: string): number {
  const db = new Database(join(home, "data", "memories.db"), { readonly: true, fileMustExist: true });
  try {
    return (db.prepare("SELECT count(*) AS n FROM changes WHERE doc_id = ?").get(docId) as { n: number }).n;
  } finally {
    db.close();
  }
}

describe("the change log is compacted per memory once the relay holds its changes", () => {
  const dir = tempDir("tm-compact-");
  const db = relayDb(`${dir.path}/relay`);
  let key: string;
  let relay: RelayProcess;
  let a: DaemonProcess;
  let b: DaemonProcess;
  let c: DaemonProcess | undefined;
  const start = (name: string) =>
    startDaemonProcess({
      home: `${dir.path}/${name}`,
      relayUrl: relay.url,
      apiKey: key,
      instance: `agent@${name}`,
    });

  beforeAll(async () => {
    key = (await relayInit(db)).apiKey;
    relay = await startRelayProcess(db, await freePort());
    [a, b] = await Promise.all([start("a"), start("b")]);
  }, 120_000);

  afterAll(async () => {
    await Promise.all([a?.kill(), b?.kill(), c?.kill(), relay?.kill()]);
    dir.remove();
  });

  it(`a memory edited ${EDITS} times keeps a bounded log on both daemons, its full history in the document, after restart and resync`, async () => {
    const content = "The release checklist lives in the ops wiki under Releases";
    const first = await a.call<{ memory_id: string }>("POST", "/v1/remember", {
      content,
      source_type: "user_explicit",
      tags: ["v0"],
    });
    expect(first.status).toBe(201);
    const id = first.body.memory_id;
    // Each remember of the same content merges its tag into the memory: one change each.
    for (let i = 1; i <= EDITS; i++) {
      const r = await a.call<{ duplicate_of: string | null }>("POST", "/v1/remember", {
        content,
        source_type: "user_explicit",
        tags: [`v${i}`],
      });
      expect(r.body.duplicate_of).toBe(id);
    }
    await waitFor(
      "A's edits on B",
      async () => {
        if (!(await allSynced([a, b]))) return false;
        const m = await b.call<MemoryJson>("GET", `/v1/memories/${id}`);
        return m.status === 200 && m.body.tags.length === EDITS + 1;
      },
      60_000,
    );
    const history = await a.call<{ history: unknown[] }>("GET", `/v1/memories/${id}/history`);
    expect(history.body.history.length).toBe(EDITS + 1);
    // Bounded: the newest acknowledged change stays (it says the memory left this machine).
    await waitFor("A's log compacted", async () => changeRows(a.home, id) <= 2);
    expect(changeRows(b.home, id)).toBeLessThanOrEqual(2);

    // Restart A: the document holds every edit, and editing it again syncs as before.
    await a.kill();
    a = await start("a");
    const afterRestart = await a.call<MemoryJson>("GET", `/v1/memories/${id}`);
    expect(afterRestart.body.tags).toHaveLength(EDITS + 1);
    expect(
      (await a.call<{ history: unknown[] }>("GET", `/v1/memories/${id}/history`)).body.history,
    ).toHaveLength(EDITS + 1);
    await a.call("POST", "/v1/remember", { content, source_type: "user_explicit", tags: ["after-restart"] });
    await waitFor(
      "the edit after the restart on B",
      async () => {
        const m = await b.call<MemoryJson>("GET", `/v1/memories/${id}`);
        return m.body.tags.includes("after-restart");
      },
      30_000,
    );
    expect(changeRows(b.home, id)).toBeLessThanOrEqual(2);

    // A new device bootstraps from the relay: the same memory, every tag.
    c = await start("c");
    const onC = await waitFor(
      "the memory on a new device",
      async () => {
        const m = await c?.call<MemoryJson>("GET", `/v1/memories/${id}`);
        return m?.status === 200 && m.body.tags.length === EDITS + 2 ? m.body : null;
      },
      60_000,
    );
    expect(onC.content).toBe(content);
    await waitFor("C's log compacted", async () => changeRows(`${dir.path}/c`, id) <= 2);
  }, 240_000);
});
