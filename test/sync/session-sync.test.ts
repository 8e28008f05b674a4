import { mkdirSync, writeFileSync } from "node:fs";
import {
  createApiKey,
  createWorkspace,
  type RelayDatabase,
  type RunningRelay,
} from "@tribalmemory/sync-server";
import { openTestDatabase, startTestRelay } from "@tribalmemory/sync-server/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, type DaemonProcess, sleep, startDaemonProcess, tempDir, waitFor } from "./harness.ts";

type Search = { results: { session_id: string; content: string }[]; count: number };
type Ingest = { messages_processed: number; duplicates: number };
type Stats = {
  sessions: number;
  messages: number;
  sync?: { enabled: boolean; last_error: unknown; cursor?: number; pushed?: number; pulled?: number };
};

/**
 * Session transcripts through the relay, as the second stream of the sync socket: two daemons
 * of one workspace with `sync.sessions: true` share them; a daemon with the default (false)
 * sends none; another workspace sees none; a daemon killed and restarted resumes from its
 * cursor without losing or repeating a message.
 */
describe("session sync through the relay", () => {
  const dir = tempDir("tm-session-sync-");
  let db: RelayDatabase;
  let relay: RunningRelay;
  let ws1: string;
  let ws2: string;
  let key1: string;
  let key2: string;
  let a: DaemonProcess;
  let b: DaemonProcess;
  let c: DaemonProcess;

  const home = (name: string, shareSessions: boolean | null) => {
    const path = `${dir.path}/${name}`;
    mkdirSync(path, { recursive: true });
    if (shareSessions !== null) writeFileSync(`${path}/config.yaml`, `sync:\n  sessions: ${shareSessions}\n`);
    return path;
  };
  const relayCount = async (workspaceId: string, table: string) =>
    (
      await db.tx(workspaceId, (sql) =>
        sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE workspace_id = $1`, [
          workspaceId,
        ]),
      )
    )[0].n;
  const search = async (d: DaemonProcess, q: string) =>
    (await d.call<Search>("GET", `/v1/sessions/search?query=${encodeURIComponent(q)}`)).body;

  const messages = [
    { id: "m1", role: "user", content: "how do we rotate the zanzibar deployment credentials" },
    { id: "m2", role: "assistant", content: "run the quokka rotation script then restart the gateway" },
  ];

  beforeAll(async () => {
    db = await openTestDatabase();
    relay = await startTestRelay(db);
    ws1 = (await createWorkspace(db, { name: "one" })).workspaceId;
    ws2 = (await createWorkspace(db, { name: "two" })).workspaceId;
    key1 = (await createApiKey(db, ws1, { name: "k1", scopes: ["read", "write"] })).key;
    key2 = (await createApiKey(db, ws2, { name: "k2", scopes: ["read", "write"] })).key;
    [a, b, c] = await Promise.all([
      startDaemonProcess({ home: home("a", true), relayUrl: relay.url, apiKey: key1, instance: "agent@a" }),
      startDaemonProcess({ home: home("b", true), relayUrl: relay.url, apiKey: key1, instance: "agent@b" }),
      startDaemonProcess({ home: home("c", null), relayUrl: relay.url, apiKey: key2, instance: "agent@c" }),
    ]);
  }, 120_000);

  afterAll(async () => {
    await Promise.all([a, b, c].map((d) => d?.kill()));
    await relay?.close();
    await db?.close();
    dir.remove();
  }, 60_000);

  it("a session ingested on A becomes searchable on B", async () => {
    const r = await a.call<Ingest>("POST", "/v1/sessions/ingest", { session_id: "sess-1", messages });
    expect(r.status).toBe(201);
    expect(r.body.messages_processed).toBe(2);
    const hits = await waitFor("session on B", async () => {
      const s = await search(b, "zanzibar credentials");
      return s.count > 0 ? s : null;
    });
    expect(hits.results[0].session_id).toBe("sess-1");
    expect(hits.results[0].content).toContain("quokka rotation");
    // The relay holds it too, searchable with the workspace's key. Its messages reach B before
    // the relay has embedded and written its own chunk (a second step of its ingest), so B
    // finding it does not mean the relay's search does yet.
    const onRelay = await waitFor("session searchable on the relay", async () => {
      const r = await api<Search>(relay.url, "GET", "/v1/sessions/search?query=quokka", undefined, key1);
      expect(r.status).toBe(200);
      return r.body.results.length > 0 ? r : null;
    });
    expect(onRelay.body.results.map((h) => h.session_id)).toContain("sess-1");
  });

  it("resending is idempotent on the daemon, on the relay and on the other daemon", async () => {
    const again = await a.call<Ingest>("POST", "/v1/sessions/ingest", { session_id: "sess-1", messages });
    expect(again.body).toMatchObject({ messages_processed: 0, duplicates: 2 });
    // A retry that reaches the relay twice (an answer lost on the way back) stores nothing new.
    const direct = await api<Ingest>(
      relay.url,
      "POST",
      "/v1/sessions/ingest",
      { session_id: "sess-1", messages },
      key1,
    );
    expect(direct.status).toBe(200);
    expect(direct.body).toMatchObject({ messages_processed: 0, duplicates: 2 });
    // A delta appended on A arrives on B once; B does not send A's messages back.
    await a.call("POST", "/v1/sessions/ingest", {
      session_id: "sess-1",
      messages: [...messages, { id: "m3", role: "user", content: "and the wombat certificate too" }],
    });
    await waitFor("delta on B", async () => (await search(b, "wombat certificate")).count > 0);
    await sleep(1000);
    expect(await relayCount(ws1, "session_messages")).toBe(3);
    const statsB = (await b.call<Stats>("GET", "/v1/sessions/stats")).body;
    expect(statsB).toMatchObject({ sessions: 1, messages: 3 });
    expect(statsB.sync).toMatchObject({ enabled: true, last_error: null, pulled: 3 });
    // B's own session goes the other way.
    await b.call("POST", "/v1/sessions/ingest", {
      session_id: "sess-b",
      messages: [{ index: 0, role: "user", content: "the platypus migration plan" }],
    });
    await waitFor("B's session on A", async () => (await search(a, "platypus migration")).count > 0);
    expect(await relayCount(ws1, "session_messages")).toBe(4);
  });

  it("a daemon killed and restarted resumes from its cursor: nothing lost, nothing repeated", async () => {
    const cursorBefore = (await b.call<Stats>("GET", "/v1/sessions/stats")).body.sync?.cursor ?? 0;
    expect(cursorBefore).toBeGreaterThan(0);
    await b.kill("SIGKILL");
    // Written while B is down: A's delta to sess-1 and a new session.
    await a.call("POST", "/v1/sessions/ingest", {
      session_id: "sess-1",
      messages: [{ id: "m4", role: "user", content: "and rotate the echidna tokens" }],
    });
    await a.call("POST", "/v1/sessions/ingest", {
      session_id: "sess-2",
      messages: [{ id: "n1", role: "user", content: "the axolotl rollout checklist" }],
    });
    b = await startDaemonProcess({
      home: `${dir.path}/b`,
      relayUrl: relay.url,
      apiKey: key1,
      instance: "agent@b",
    });
    await waitFor("A's offline writes on B", async () => (await search(b, "axolotl rollout")).count > 0);
    await waitFor("the delta on B", async () => (await search(b, "echidna tokens")).count > 0);
    await sleep(1000);
    const stats = (await b.call<Stats>("GET", "/v1/sessions/stats")).body;
    // sess-1: m1..m4, sess-b: 1, sess-2: 1. Only the two new messages arrived after the restart.
    expect(stats).toMatchObject({ sessions: 3, messages: 6 });
    expect(stats.sync).toMatchObject({ enabled: true, pulled: 2, last_error: null });
    expect(await relayCount(ws1, "session_messages")).toBe(6);
  });

  it("with sync.sessions false, no session message reaches the relay", async () => {
    const r = await c.call<Ingest>("POST", "/v1/sessions/ingest", {
      session_id: "sess-private",
      messages: [{ id: "p1", role: "user", content: "the private narwhal budget" }],
    });
    expect(r.body.messages_processed).toBe(1);
    // C does sync memories: once its memory is on the relay, C has been talking to it.
    await c.call("POST", "/v1/remember", { content: "C's memory about the narwhal" });
    await waitFor("C's memory on the relay", async () => (await relayCount(ws2, "memories")) > 0);
    await sleep(1500);
    expect(await relayCount(ws2, "session_messages")).toBe(0);
    expect(await relayCount(ws2, "sessions")).toBe(0);
    expect(await relayCount(ws2, "session_chunks")).toBe(0);
    expect((await c.call<Stats>("GET", "/v1/sessions/stats")).body).toMatchObject({
      messages: 1,
      sync: { enabled: false },
    });
  });

  it("another workspace's key cannot search or pull these sessions", async () => {
    const s = await api<Search>(
      relay.url,
      "GET",
      "/v1/sessions/search?query=zanzibar quokka",
      undefined,
      key2,
    );
    expect(s.status).toBe(200);
    expect(s.body.count).toBe(0);
    const pulled = await api<{ messages: unknown[] }>(
      relay.url,
      "GET",
      "/v1/sessions/messages?after=0",
      undefined,
      key2,
    );
    expect(pulled.status).toBe(200);
    expect(pulled.body.messages).toEqual([]);
    // And without a key, nothing at all.
    expect((await api(relay.url, "GET", "/v1/sessions/search?query=zanzibar")).status).toBe(401);
    expect((await api(relay.url, "GET", "/v1/sessions/messages")).status).toBe(401);
    // Workspace one's pull, as another device, sees all six messages.
    const own = await api<{ messages: { session_id: string }[] }>(
      relay.url,
      "GET",
      "/v1/sessions/messages?after=0&device=someone-else",
      undefined,
      key1,
    );
    expect(own.body.messages.length).toBe(6);
  });
});
