import { afterAll, beforeAll, describe, expect, it } from "vitest";
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

interface MemoryJson {
  id: string;
  content: string;
  tags: string[];
  supersedes: string | null;
  duplicate_of: string | null;
  deleted: boolean;
}
type Recall = { results: { memory: MemoryJson }[] };
type Status = { state: string; outbox: number; cursor: number; last_error: { code: string } | null };

/**
 * Two daemons and a relay, each a real process on loopback. The steps build on each other
 * (one relay start costs seconds on 2 cores), so they run in order.
 */
describe("two daemons syncing through a relay", () => {
  const dir = tempDir("tm-sync-");
  const db = relayDb(`${dir.path}/relay`);
  let port: number;
  let key: string;
  let relay: RelayProcess | null = null;
  let a: DaemonProcess;
  let b: DaemonProcess;

  const memoryOn = async (d: DaemonProcess, id: string) =>
    (await d.call<MemoryJson>("GET", `/v1/memories/${id}`)).body;
  const status = async (d: DaemonProcess) => (await d.call<Status>("GET", "/v1/sync/status")).body;
  const bothIdle = () => allSynced([a, b]);

  beforeAll(async () => {
    port = await freePort();
    key = (await relayInit(db)).apiKey;
    const url = `http://127.0.0.1:${port}`;
    [a, b] = await Promise.all([
      startDaemonProcess({ home: `${dir.path}/a`, relayUrl: url, apiKey: key, instance: "agent@a" }),
      startDaemonProcess({ home: `${dir.path}/b`, relayUrl: url, apiKey: key, instance: "agent@b" }),
    ]);
  }, 90_000);

  afterAll(async () => {
    await Promise.all([a?.kill(), b?.kill(), relay?.kill()]);
    dir.remove();
  });

  it("a memory written on A while the relay is down reaches B once the relay starts", async () => {
    const r = await a.call<{ memory_id: string }>("POST", "/v1/remember", {
      content: "The billing database is Postgres 15",
      tags: ["ops"],
    });
    expect(r.status).toBe(201);
    const s = await status(a);
    expect(s.outbox).toBe(1);
    expect(s.state).not.toBe("live");
    relay = await startRelayProcess(db, port);
    const got = await waitFor(
      "B to receive A's memory",
      async () => {
        const m = await b.call<MemoryJson>("GET", `/v1/memories/${r.body.memory_id}`);
        return m.status === 200 ? m.body : null;
      },
      30_000,
    );
    expect(got).toMatchObject({ content: "The billing database is Postgres 15", tags: ["ops"] });
    const recall = await b.call<Recall>("POST", "/v1/recall", { query: "billing database" });
    expect(recall.body.results.map((x) => x.memory.id)).toContain(r.body.memory_id);
    await waitFor("both idle", bothIdle);
  });

  it("concurrent offline edits converge: tags from both sides kept, a correction's supersedes holds on both", async () => {
    const x = (
      await a.call<{ memory_id: string }>("POST", "/v1/remember", {
        content: "Deploys happen on Friday",
        tags: ["deploy"],
      })
    ).body.memory_id;
    await waitFor("B to hold x", async () => (await b.call("GET", `/v1/memories/${x}`)).status === 200);
    await waitFor("both idle", bothIdle);
    await relay?.kill();
    relay = null;
    // Offline on both sides: a duplicate remember merges tags into x (an edit of x's document).
    await a.call("POST", "/v1/remember", { content: "deploys happen on friday", tags: ["from-a"] });
    await b.call("POST", "/v1/remember", { content: "Deploys happen on Friday.", tags: ["from-b"] });
    const fix = (
      await a.call<{ memory_id: string }>("POST", "/v1/correct", {
        original_id: x,
        corrected_content: "Deploys moved to Thursday",
      })
    ).body.memory_id;
    relay = await startRelayProcess(db, port);
    await waitFor("both idle", bothIdle, 30_000);
    await waitFor("tags merged on both", async () => {
      const [ma, mb] = [await memoryOn(a, x), await memoryOn(b, x)];
      return ma.tags.length === 3 && mb.tags.length === 3;
    });
    const [ma, mb] = [await memoryOn(a, x), await memoryOn(b, x)];
    expect(ma).toEqual(mb);
    expect(ma.tags).toEqual(["deploy", "from-a", "from-b"]);
    const fb = await waitFor("B to hold the correction", async () => {
      const m = await b.call<MemoryJson>("GET", `/v1/memories/${fix}`);
      return m.status === 200 ? m.body : null;
    });
    expect(fb.supersedes).toBe(x);
    const recallB = await b.call<Recall>("POST", "/v1/recall", { query: "when do deploys happen" });
    expect(recallB.body.results.map((r) => r.memory.id)).toEqual([fix]);
  });

  it("the same content remembered on both machines offline is merged: smaller id stays, the other is its duplicate", async () => {
    await relay?.kill();
    relay = null;
    const ia = (
      await a.call<{ memory_id: string }>("POST", "/v1/remember", {
        content: "Staging runs in eu-west-1",
        tags: ["aws"],
      })
    ).body.memory_id;
    const ib = (
      await b.call<{ memory_id: string }>("POST", "/v1/remember", {
        content: "staging runs in EU-WEST-1",
        tags: ["infra"],
      })
    ).body.memory_id;
    relay = await startRelayProcess(db, port);
    const [keep, dup] = ia < ib ? [ia, ib] : [ib, ia];
    await waitFor(
      "merge on both",
      async () => {
        for (const d of [a, b]) {
          const m = await d.call<MemoryJson>("GET", `/v1/memories/${dup}`);
          if (m.status !== 200 || m.body.duplicate_of !== keep) return false;
          if ((await memoryOn(d, keep)).tags.join() !== "aws,infra") return false;
        }
        return true;
      },
      30_000,
    );
    for (const d of [a, b]) {
      const hits = await d.call<Recall>("POST", "/v1/recall", { query: "staging eu-west-1" });
      expect(hits.body.results.map((r) => r.memory.id)).toEqual([keep]);
    }
    expect(await memoryOn(a, dup)).toEqual(await memoryOn(b, dup));
  });

  it("memories written through the relay's API reach the daemons; forget and purge propagate", async () => {
    const created = await api<{ memory_id: string; memory: { source_instance: string } }>(
      relay?.url as string,
      "POST",
      "/v1/remember",
      { content: "Cloud agent note: rotate the TLS certs in May", source_instance: "cloud-agent@ci" },
      key,
    );
    expect(created.status).toBe(201);
    const id = created.body.memory_id;
    await waitFor("A and B to hold the cloud memory", async () =>
      (await Promise.all([a, b].map((d) => d.call("GET", `/v1/memories/${id}`)))).every(
        (r) => r.status === 200,
      ),
    );
    expect((await memoryOn(b, id)) as unknown).toMatchObject({ source_instance: "cloud-agent@ci" });
    await a.call("POST", "/v1/forget", { memory_id: id });
    await waitFor("forget on B", async () => (await memoryOn(b, id)).deleted === true);
    const purge = await api(relay?.url as string, "DELETE", `/v1/memories/${id}?purge=true`, undefined, key);
    expect(purge.status).toBe(200);
    await waitFor("purge on A and B", async () =>
      (await Promise.all([a, b].map((d) => d.call("GET", `/v1/memories/${id}`)))).every(
        (r) => r.status === 404,
      ),
    );
    expect((await api(relay?.url as string, "GET", `/v1/memories/${id}`, undefined, key)).status).toBe(404);
  });
});
