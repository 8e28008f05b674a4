import { randomUUID } from "node:crypto";
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
 * The spec's simple sync form (issue 13, item 8), spoken by a client written from the spec with
 * nothing but fetch: `POST /v1/sync/push {since, memories, entities}` and
 * `POST /v1/sync/pull {since}`, beside a daemon that syncs with the same relay over the
 * Automerge WebSocket. Real processes on loopback.
 */
interface SpecMemory {
  id: string;
  content: string;
  tags: string[];
  deleted: boolean;
}
interface PushAnswer {
  results: { id: string; status: string; duplicate_of?: string }[];
  cursor: number;
  entities_ignored: number;
}
interface PullAnswer {
  memories: SpecMemory[];
  entities: { name: string; type: string; memory_ids: string[] }[];
  purged: string[];
  since: number;
  cursor: number;
  more: boolean;
}
interface ErrorAnswer {
  error: { code: string; details?: { issues?: { path: string }[] } };
}

describe("the simple sync form beside the Automerge protocol", () => {
  const dir = tempDir("tm-simple-sync-");
  const db = relayDb(`${dir.path}/relay`);
  let relay: RelayProcess;
  let key: string;
  let daemon: DaemonProcess;

  /** The spec's client: JSON over HTTP with a Bearer key. */
  async function post<T>(
    path: string,
    body: unknown,
    bearer: string | null = key,
  ): Promise<{ status: number; body: T }> {
    const res = await fetch(`${relay.url}${path}`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...(bearer ? { authorization: `Bearer ${bearer}` } : {}),
      },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as T };
  }
  const onDaemon = async (id: string) => daemon.call<SpecMemory>("GET", `/v1/memories/${id}`);

  beforeAll(async () => {
    key = (await relayInit(db)).apiKey;
    relay = await startRelayProcess(db, await freePort());
    daemon = await startDaemonProcess({
      home: `${dir.path}/d`,
      relayUrl: relay.url,
      apiKey: key,
      instance: "agent@d",
    });
  }, 120_000);

  afterAll(async () => {
    await Promise.all([daemon?.kill(), relay?.kill()]);
    dir.remove();
  });

  const clientId = randomUUID();
  const push = {
    since: 0,
    memories: [
      { content: "the billing service talks to Stripe through a queue", tags: ["billing"] },
      {
        id: clientId,
        content: "the on-call rota changes on Mondays",
        tags: ["ops"],
        created_at: "2026-01-05T09:00:00Z",
        updated_at: "2026-01-05T09:00:00Z",
      },
    ],
    entities: [{ name: "Stripe", type: "organization" }],
  };

  it("a push becomes ordinary changes that a daemon syncing over the WebSocket receives", async () => {
    const r = await post<PushAnswer>("/v1/sync/push", push);
    expect(r.status).toBe(200);
    expect(r.body.results.map((x) => x.status)).toEqual(["created", "created"]);
    expect(r.body.results[1].id).toBe(clientId);
    expect(r.body.cursor).toBeGreaterThanOrEqual(2);
    expect(r.body.entities_ignored).toBe(1);
    const [pushedId] = r.body.results.map((x) => x.id);
    const got = await waitFor("the pushed memories on the daemon", async () => {
      const [a, b] = await Promise.all([onDaemon(pushedId), onDaemon(clientId)]);
      return a.status === 200 && b.status === 200 ? [a.body, b.body] : null;
    });
    expect(got[0]).toMatchObject({ content: push.memories[0].content, tags: ["billing"], deleted: false });
    expect(got[1]).toMatchObject({
      content: push.memories[1].content,
      created_at: "2026-01-05T09:00:00.000Z",
    });
  });

  it("re-pushing the same body changes nothing", async () => {
    const before = (await post<PullAnswer>("/v1/sync/pull", { since: 0 })).body.cursor;
    const again = await post<PushAnswer>("/v1/sync/push", push);
    expect(again.status).toBe(200);
    expect(again.body.results.map((x) => x.status)).toEqual(["duplicate", "unchanged"]);
    expect(again.body.cursor).toBe(before);
    const list = await daemon.call<{ memories: SpecMemory[] }>("GET", "/v1/memories?limit=100");
    expect(list.body.memories).toHaveLength(2);
  });

  it("the daemon's memory is pulled by the simple client, with its entities, from a stable cursor", async () => {
    const written = await daemon.call<{ memory_id: string }>("POST", "/v1/remember", {
      content: "Alice moved the search cluster to Postgres",
    });
    await waitFor("the daemon's outbox to drain", () => allSynced([daemon]));
    const all = await post<PullAnswer>("/v1/sync/pull", { since: 0 });
    expect(all.status).toBe(200);
    expect(all.body.more).toBe(false);
    const mine = all.body.memories.find((m) => m.id === written.body.memory_id);
    expect(mine).toMatchObject({ content: "Alice moved the search cluster to Postgres", deleted: false });
    expect(all.body.memories.map((m) => m.id)).toContain(clientId);
    expect(all.body.entities.find((e) => e.name === "postgres")?.memory_ids).toEqual([
      written.body.memory_id,
    ]);

    const none = await post<PullAnswer>("/v1/sync/pull", { since: all.body.cursor });
    expect(none.body).toMatchObject({ memories: [], since: all.body.cursor, cursor: all.body.cursor });

    // A deletion pushed by the simple client reaches the daemon; the next pull carries it.
    const forgot = await post<PushAnswer>("/v1/sync/push", {
      since: all.body.cursor,
      memories: [{ id: written.body.memory_id, deleted: true }],
    });
    expect(forgot.body.results).toEqual([{ id: written.body.memory_id, status: "deleted" }]);
    await waitFor(
      "the deletion on the daemon",
      async () => (await onDaemon(written.body.memory_id)).body.deleted,
    );
    const after = await post<PullAnswer>("/v1/sync/pull", { since: all.body.cursor });
    expect(after.body.memories).toEqual([
      expect.objectContaining({ id: written.body.memory_id, deleted: true }),
    ]);
  });

  it("bad input gets stable codes with the field named, in both forms", async () => {
    const cases: [string, unknown, number, string, string | null][] = [
      ["/v1/sync/push", { memories: [{ content: 5 }] }, 422, "VALIDATION_FAILED", "memories.0.content"],
      ["/v1/sync/push", { memories: [{ deleted: true }] }, 422, "VALIDATION_FAILED", "memories.0.id"],
      [
        "/v1/sync/push",
        { memories: [{ content: "x", created_at: "soon" }] },
        422,
        "VALIDATION_FAILED",
        "memories.0.created_at",
      ],
      ["/v1/sync/push", { memories: [{ content: "   " }] }, 422, "VALIDATION_FAILED", "memories.0.content"],
      ["/v1/sync/push", { memories: [], colour: "red" }, 422, "VALIDATION_FAILED", null],
      [
        "/v1/sync/push",
        { memories: Array.from({ length: 501 }, () => ({ content: "x" })) },
        422,
        "VALIDATION_FAILED",
        "memories",
      ],
      ["/v1/sync/pull", { since: -1 }, 422, "VALIDATION_FAILED", "since"],
      // The Automerge form's errors still name the change, which daemons read to dead-letter it.
      [
        "/v1/sync/push",
        { device: "d", changes: [{ doc_id: "nope" }] },
        422,
        "VALIDATION_FAILED",
        "changes.0.doc_id",
      ],
    ];
    for (const [path, body, status, code, field] of cases) {
      const r = await post<ErrorAnswer>(path, body);
      expect([path, r.status, r.body.error.code]).toEqual([path, status, code]);
      if (field) expect(r.body.error.details?.issues?.[0].path).toBe(field);
    }
    const anonymous = await post<ErrorAnswer>("/v1/sync/pull", { since: 0 }, null);
    expect([anonymous.status, anonymous.body.error.code]).toEqual([401, "UNAUTHENTICATED"]);
  });
});
