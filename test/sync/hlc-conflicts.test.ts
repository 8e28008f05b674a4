import { join } from "node:path";
import { SqliteMemoryStore } from "@tribalmemory/daemon/store/sqlite-store";
import { readLocalToken } from "@tribalmemory/shared/config/local-token";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  allSynced,
  api,
  type DaemonProcess,
  freePort,
  type RelayProcess,
  relayDb,
  relayInit,
  sleep,
  startDaemonProcess,
  startRelayProcess,
  tempDir,
  waitFor,
} from "./harness.ts";

interface MemoryJson {
  id: string;
  content: string;
  tags: string[];
}
type Status = { state: string; outbox: number };

/** The Automerge actor a daemon writes with (kept in its store's meta table). */
async function actorOf(d: DaemonProcess): Promise<string> {
  const store = new SqliteMemoryStore({ path: join(d.home, "data", "memories.db"), readWorker: false });
  try {
    return store.getMeta("actor") as string;
  } finally {
    await store.close();
  }
}

/**
 * Issue 8, bug 14: "last write wins on content" is by time. Two daemons edit one memory while
 * the relay is down; the one that wrote later must win on both daemons and on the relay once
 * they sync. Automerge's own rule (greater op id: same op counter here, so the greater actor)
 * would pick the earlier edit: the later writer is chosen to be the daemon with the smaller actor.
 */
describe("concurrent offline content edits", () => {
  const dir = tempDir("tm-hlc-");
  const db = relayDb(`${dir.path}/relay`);
  let port: number;
  let key: string;
  let relay: RelayProcess | null = null;
  let a: DaemonProcess;
  let b: DaemonProcess;

  const _status = async (d: DaemonProcess) => (await d.call<Status>("GET", "/v1/sync/status")).body;
  const bothIdle = () => allSynced([a, b]);

  beforeAll(async () => {
    port = await freePort();
    key = (await relayInit(db)).apiKey;
    relay = await startRelayProcess(db, port);
    [a, b] = await Promise.all([
      startDaemonProcess({ home: `${dir.path}/a`, relayUrl: relay.url, apiKey: key, instance: "agent@a" }),
      startDaemonProcess({ home: `${dir.path}/b`, relayUrl: relay.url, apiKey: key, instance: "agent@b" }),
    ]);
  }, 120_000);

  afterAll(async () => {
    await Promise.all([a?.kill(), b?.kill(), relay?.kill()]);
    dir.remove();
  });

  it("the daemon that wrote later wins on every replica, whatever Automerge's actor order", async () => {
    const id = (
      await a.call<{ memory_id: string }>("POST", "/v1/remember", {
        content: "The staging cluster runs Kubernetes 1.29",
        tags: ["infra"],
      })
    ).body.memory_id;
    await waitFor(
      "B to hold the memory",
      async () => (await b.call("GET", `/v1/memories/${id}`)).status === 200,
    );
    await waitFor("both idle", bothIdle);
    await relay?.kill();
    relay = null;

    // The later writer has the smaller actor: Automerge alone would keep the earlier edit.
    const [actorA, actorB] = await Promise.all([actorOf(a), actorOf(b)]);
    const [early, late] = actorA > actorB ? [a, b] : [b, a];
    const overwrite = (d: DaemonProcess, content: string) =>
      // Import needs the daemon's local token (sent as a Bearer token).
      api(
        d.url,
        "POST",
        "/v1/import",
        {
          bundle: { manifest: { schema_version: "1.0" }, entries: [{ id, content, tags: ["infra"] }] },
          conflict_resolution: "overwrite",
        },
        readLocalToken(d.home) ?? undefined,
      );
    expect((await overwrite(early, "The staging cluster runs Kubernetes 1.30")).body).toMatchObject({
      overwritten: 1,
    });
    await sleep(1500);
    expect((await overwrite(late, "The staging cluster runs Kubernetes 1.31")).body).toMatchObject({
      overwritten: 1,
    });

    relay = await startRelayProcess(db, port);
    const relayUrl = relay.url;
    await waitFor("both idle", bothIdle, 60_000);
    const contents = async () => {
      const [ma, mb, mr] = await Promise.all([
        a.call<MemoryJson>("GET", `/v1/memories/${id}`),
        b.call<MemoryJson>("GET", `/v1/memories/${id}`),
        api<MemoryJson>(relayUrl, "GET", `/v1/memories/${id}`, undefined, key),
      ]);
      return [ma.body.content, mb.body.content, mr.body.content];
    };
    // Both edits are on both sides once each has the other's change: wait for agreement.
    await waitFor("replicas to agree", async () => new Set(await contents()).size === 1, 30_000);
    expect(await contents()).toEqual(Array(3).fill("The staging cluster runs Kubernetes 1.31"));
  });
});
