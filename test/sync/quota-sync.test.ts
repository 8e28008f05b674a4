import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  createApiKey,
  createWorkspace,
  type RelayDatabase,
  type RunningRelay,
  setPlan,
} from "@tribalmemory/sync-server";
import { openTestDatabase, startTestRelay } from "@tribalmemory/sync-server/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, type DaemonProcess, startDaemonProcess, tempDir, waitFor } from "./harness.ts";

type Status = {
  state: string;
  outbox: number;
  dead_letters: { count: number };
  last_error: { code: string; message: string } | null;
};

/**
 * A real daemon (`tribalmemoryd`) syncing into a Free workspace on a relay on loopback: at the
 * 1,000-memory limit its pushes are refused for quota, which the daemon treats as transient. It
 * keeps its outbox and its local copies, shows the refusal in `sync status`, still syncs the
 * delete of an existing memory, and drains by itself once a delete makes room and once the
 * plan is upgraded. Nothing is lost.
 */
describe("a daemon refused for quota keeps its data and resumes by itself", () => {
  const dir = tempDir("tm-quota-sync-");
  let db: RelayDatabase;
  let relay: RunningRelay;
  let workspaceId: string;
  let key: string;
  let daemon: DaemonProcess;

  const onRelay = <T = Record<string, unknown>>(method: string, path: string, body?: unknown) =>
    api<T>(relay.url, method, path, body, key);
  const relayMemories = async () => (await onRelay<{ memories: number }>("GET", "/v1/usage")).body.memories;
  const status = async () => (await daemon.call<Status>("GET", "/v1/sync/status")).body;
  const remember = async (content: string) => {
    const r = await daemon.call<{ memory_id: string }>("POST", "/v1/remember", { content });
    expect(r.status).toBe(201);
    return r.body.memory_id;
  };

  beforeAll(async () => {
    db = await openTestDatabase();
    relay = await startTestRelay(db, { quotaCacheMs: 200 });
    ({ workspaceId } = await createWorkspace(db, { name: "free-quota" }));
    key = (await createApiKey(db, workspaceId, { name: "admin", scopes: ["admin"] })).key;
    // 998 memories already there: the daemon's third new memory is the 1,001st.
    const fill = await onRelay<{ created: number }>("POST", "/v1/remember/batch", {
      memories: Array.from({ length: 998 }, (_, i) => ({ content: `relay fact ${i}: value ${i * 3}` })),
    });
    expect(fill.body.created).toBe(998);
    const home = join(dir.path, "laptop");
    mkdirSync(home, { recursive: true });
    // A one-second sync tick: the daemon retries a refused push on every tick.
    writeFileSync(join(home, "config.yaml"), "sync:\n  interval: 1\n");
    daemon = await startDaemonProcess({ home, relayUrl: relay.url, apiKey: key, instance: "laptop@quota" });
  }, 120_000);

  afterAll(async () => {
    await daemon?.kill();
    await relay?.close();
    await db?.close();
    dir.remove();
  });

  it("fills the workspace, is refused, keeps its outbox, and drains after a delete and an upgrade", async () => {
    const m1 = await remember("laptop note one: the VPN gateway moved to 10.2.0.1");
    const m2 = await remember("laptop note two: deploys freeze on Fridays");
    await waitFor("the first two to sync", async () => (await status()).outbox === 0, 30_000);
    expect(await relayMemories()).toBe(1000);

    const m3 = await remember("laptop note three: the on-call rotation starts Monday");
    const m4 = await remember("laptop note four: the staging database is read-only");
    const refused = await waitFor(
      "the push to be refused for quota",
      async () => {
        const s = await status();
        return s.last_error?.code === "QUOTA_EXCEEDED" ? s : null;
      },
      30_000,
    );
    expect(refused.outbox).toBe(2);
    expect(refused.dead_letters.count).toBe(0);
    expect(refused.last_error?.message).toContain("allows 1000 memories");
    expect(refused.last_error?.message).toContain("Upgrade");
    // The daemon keeps working locally: its copies are there and recall finds them.
    for (const id of [m3, m4]) expect((await daemon.call("GET", `/v1/memories/${id}`)).status).toBe(200);
    expect((await onRelay("GET", `/v1/memories/${m3}`)).status).toBe(404);
    expect(await relayMemories()).toBe(1000);

    // Deleting an existing memory is never refused, and it makes room for one more.
    expect((await daemon.call("DELETE", `/v1/memories/${m1}`)).status).toBe(200);
    await waitFor("the delete to sync and the third memory to fit", async () => {
      const s = await status();
      return s.outbox === 1 && (await onRelay("GET", `/v1/memories/${m3}`)).status === 200;
    });
    expect((await onRelay<{ deleted: boolean }>("GET", `/v1/memories/${m1}`)).body.deleted).toBe(true);
    expect(await relayMemories()).toBe(1000);
    expect((await status()).last_error?.code).toBe("QUOTA_EXCEEDED");

    await setPlan(db, workspaceId, { plan: "pro", source: "admin" });
    await waitFor("the outbox to drain after the upgrade", async () => (await status()).outbox === 0, 30_000);
    const arrived = await onRelay<{ content: string }>("GET", `/v1/memories/${m4}`);
    expect([arrived.status, arrived.body.content]).toEqual([
      200,
      "laptop note four: the staging database is read-only",
    ]);
    expect((await onRelay<{ content: string }>("GET", `/v1/memories/${m2}`)).body.content).toBe(
      "laptop note two: deploys freeze on Fridays",
    );
    expect(await relayMemories()).toBe(1001);
    const done = await status();
    expect([done.outbox, done.dead_letters.count]).toEqual([0, 0]);
    const usage = await onRelay<{ plan: string; agents: { count: number; list: { kind: string }[] } }>(
      "GET",
      "/v1/usage",
    );
    expect(usage.body.plan).toBe("pro");
    expect(usage.body.agents.list.map((a) => a.kind)).toEqual(["device"]);
  }, 120_000);
});
