import { createMemoryDoc, editMemoryDoc, newActorId } from "@tribalmemory/shared/memory/document";
import { encodeBytes } from "@tribalmemory/shared/sync/protocol";
import { sampleMemory } from "@tribalmemory/shared/testing/sample-memory";
import {
  createApiKey,
  createWorkspace,
  type PlanId,
  type RelayDatabase,
  type RunningRelay,
  setPlan,
} from "@tribalmemory/sync-server";
import { api, startTestRelay } from "@tribalmemory/sync-server/testing";
import { describe, expect, it } from "vitest";
import { useTestRelay } from "../helpers/relay.ts";

/**
 * Plans enforced on every path that adds work (issue: plans, quotas, metering): memories on
 * HTTP writes, imports and sync pushes (402 QUOTA_EXCEEDED), recalls a month (429
 * QUERY_QUOTA_EXCEEDED with Retry-After), agents (402, resource agents), and `/v1/usage` with
 * the limits beside the counts, sync writes metered.
 */
describe("relay plans and quotas", () => {
  let db: RelayDatabase;
  let relay: RunningRelay;

  // No plan cache: a plan set by setPlan() below applies at the next request.
  useTestRelay(
    (d, r) => {
      db = d;
      relay = r;
    },
    { quotaCacheMs: 0 },
  );

  async function workspace(
    plan: PlanId = "free",
    customLimits: Record<string, number> | null = null,
  ): Promise<{ id: string; key: string }> {
    const { workspaceId } = await createWorkspace(db, { name: `quota-${plan}` });
    if (plan !== "free") await setPlan(db, workspaceId, { plan, customLimits, source: "admin" });
    const key = (await createApiKey(db, workspaceId, { name: "admin", scopes: ["admin"] })).key;
    return { id: workspaceId, key };
  }
  const call = <T = Record<string, unknown>>(key: string, method: string, path: string, body?: unknown) =>
    api<T>(relay.url, method, path, body, key);
  type Refusal = { error: { code: string; message: string; details: Record<string, unknown> } };
  const memoriesOf = async (key: string) =>
    (await call<{ memories: number }>(key, "GET", "/v1/usage")).body.memories;

  it("GET /v1/plans lists the plans and their limits without an API key", async () => {
    const res = await api<{ plans: { id: string; limits: Record<string, number | null> }[] }>(
      relay.url,
      "GET",
      "/v1/plans",
    );
    expect(res.status).toBe(200);
    expect(res.body.plans.map((p) => [p.id, p.limits])).toEqual([
      ["free", { memories: 1000, queries_per_month: 10000, agents: 3 }],
      ["pro", { memories: 50000, queries_per_month: null, agents: 10 }],
      ["team", { memories: 250000, queries_per_month: null, agents: null }],
      ["enterprise", { memories: null, queries_per_month: null, agents: null }],
    ]);
  });

  it("a Free workspace full at 1,000 memories refuses new ones with 402 and room made by a delete or an upgrade", async () => {
    const w = await workspace("free");
    const fill = await call<{ created: number }>(w.key, "POST", "/v1/remember/batch", {
      memories: Array.from({ length: 1000 }, (_, i) => ({
        content: `fact number ${i}: the value is ${i * 7}`,
      })),
    });
    expect([fill.status, fill.body.created]).toEqual([201, 1000]);

    const refused = await call<Refusal>(w.key, "POST", "/v1/remember", { content: "one too many" });
    expect(refused.status).toBe(402);
    expect(refused.body.error.code).toBe("QUOTA_EXCEEDED");
    expect(refused.body.error.details).toEqual({
      resource: "memories",
      limit: 1000,
      usage: 1000,
      plan: "free",
      upgrade: {
        plans: ["pro", "team", "enterprise"],
        checkout: "POST /v1/billing/checkout",
        hint: expect.stringContaining("Upgrade to Pro or Team"),
      },
    });
    expect(refused.body.error.message).toContain("allows 1000 memories");
    expect(refused.body.error.message).toContain("delete memories");

    // A batch is refused whole; a correction makes a new memory, so it is refused too.
    const batch = await call<Refusal>(w.key, "POST", "/v1/remember/batch", {
      memories: [{ content: "batch one" }, { content: "batch two" }],
    });
    expect(batch.status).toBe(402);
    const list = await call<{ memories: { id: string }[] }>(w.key, "GET", "/v1/memories?limit=2");
    const [first, second] = list.body.memories.map((m) => m.id);
    const correct = await call<Refusal>(w.key, "POST", "/v1/correct", {
      original_id: first,
      corrected_content: "a corrected fact",
    });
    expect(correct.status).toBe(402);
    expect(await memoriesOf(w.key)).toBe(1000);

    // Deleting an existing memory is never refused, and it makes room for one.
    expect((await call(w.key, "DELETE", `/v1/memories/${second}`)).status).toBe(200);
    expect((await call(w.key, "POST", "/v1/remember", { content: "fits now" })).status).toBe(201);
    expect((await call(w.key, "POST", "/v1/remember", { content: "full again" })).status).toBe(402);

    await setPlan(db, w.id, { plan: "pro", source: "admin" });
    expect((await call(w.key, "POST", "/v1/remember", { content: "room on Pro" })).status).toBe(201);
    expect(await memoriesOf(w.key)).toBe(1001);
  }, 120_000);

  it("an import past the limit is refused with 402", async () => {
    const source = await workspace("enterprise", { memories: 5 });
    for (const c of ["alpha note", "beta note", "gamma note"])
      expect((await call(source.key, "POST", "/v1/remember", { content: c })).status).toBe(201);
    const exported = await call<{ bundle: unknown }>(source.key, "POST", "/v1/export", {});
    const target = await workspace("enterprise", { memories: 2 });
    const imported = await call<Refusal>(target.key, "POST", "/v1/import", { bundle: exported.body.bundle });
    expect(imported.status).toBe(402);
    expect(imported.body.error.details).toMatchObject({ resource: "memories", limit: 2, plan: "enterprise" });
    expect(await memoriesOf(target.key)).toBe(0);
  });

  it("recalls past the month's limit answer 429 with Retry-After until the start of next month (UTC)", async () => {
    const w = await workspace("enterprise", { queries_per_month: 2 });
    for (let i = 0; i < 2; i++)
      expect((await call(w.key, "POST", "/v1/recall", { query: "anything" })).status).toBe(200);
    const res = await fetch(`${relay.url}/v1/recall?query=anything`, {
      headers: { authorization: `Bearer ${w.key}` },
    });
    const body = (await res.json()) as Refusal;
    const now = new Date();
    const resets = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));
    expect(res.status).toBe(429);
    expect(body.error.code).toBe("QUERY_QUOTA_EXCEEDED");
    expect(body.error.details).toMatchObject({
      resource: "queries",
      limit: 2,
      usage: 2,
      plan: "enterprise",
      resets_at: resets.toISOString(),
    });
    const retryAfter = Number(res.headers.get("retry-after"));
    expect(Math.abs(retryAfter - (resets.getTime() - now.getTime()) / 1000)).toBeLessThan(30);
    // The refused recall is not metered.
    expect((await call<{ queries: number }>(w.key, "GET", "/v1/usage")).body.queries).toBe(2);
  });

  it("a Free workspace that used its 10,000 recalls this month is refused the next one", async () => {
    const w = await workspace("free");
    const period = new Date().toISOString().slice(0, 7);
    await db.tx(w.id, (sql) =>
      sql.query("INSERT INTO usage (workspace_id, period, queries) VALUES ($1, $2, 10000)", [w.id, period]),
    );
    const res = await call<Refusal>(w.key, "POST", "/v1/recall", { query: "x" });
    expect([res.status, res.body.error.details.limit, res.body.error.details.plan]).toEqual([
      429,
      10000,
      "free",
    ]);
    await setPlan(db, w.id, { plan: "pro", source: "admin" });
    expect((await call(w.key, "POST", "/v1/recall", { query: "x" })).status).toBe(200);
  });

  it("a fourth agent in a month on Free is refused; known agents and writes naming none are not", async () => {
    const w = await workspace("free");
    for (const instance of ["agent-a", "agent-b", "agent-c"])
      expect(
        (
          await call(w.key, "POST", "/v1/remember", {
            content: `from ${instance}`,
            source_instance: instance,
          })
        ).status,
      ).toBe(201);
    const fourth = await call<Refusal>(w.key, "POST", "/v1/remember", {
      content: "from d",
      source_instance: "agent-d",
    });
    expect(fourth.status).toBe(402);
    expect(fourth.body.error.details).toMatchObject({ resource: "agents", limit: 3, usage: 3, plan: "free" });
    // By header, in a batch, and as a sync device: the same count.
    const byHeader = await fetch(`${relay.url}/v1/remember`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${w.key}`,
        "content-type": "application/json",
        "x-tribal-source-instance": "agent-e",
      },
      body: JSON.stringify({ content: "from e" }),
    });
    expect(byHeader.status).toBe(402);
    const batch = await call(w.key, "POST", "/v1/remember/batch", {
      memories: [
        { content: "a again", source_instance: "agent-a" },
        { content: "f", source_instance: "agent-f" },
      ],
    });
    expect(batch.status).toBe(402);
    const push = await call<Refusal>(w.key, "POST", "/v1/sync/push", {
      device: "laptop-4",
      changes: [wire(createMemoryDoc(sampleMemory({ content: "pushed" }), newActorId()).change)],
    });
    expect([push.status, push.body.error.details.resource]).toEqual([402, "agents"]);

    expect(
      (await call(w.key, "POST", "/v1/remember", { content: "a writes again", source_instance: "agent-a" }))
        .status,
    ).toBe(201);
    expect((await call(w.key, "POST", "/v1/remember", { content: "the key's own note" })).status).toBe(201);
    const usage = await call<{
      agents: { count: number; limit: number; list: { id: string; kind: string }[] };
    }>(w.key, "GET", "/v1/usage");
    expect(usage.body.agents.count).toBe(3);
    expect(usage.body.agents.limit).toBe(3);
    expect(usage.body.agents.list.map((a) => [a.id, a.kind])).toEqual([
      ["agent-a", "instance"],
      ["agent-b", "instance"],
      ["agent-c", "instance"],
    ]);
  });

  it("writes that arrive through sync are metered in /v1/usage (they were not)", async () => {
    const w = await workspace("free");
    const changes = ["one", "two", "three"].map((c) =>
      wire(createMemoryDoc(sampleMemory({ content: `synced ${c}` }), newActorId()).change),
    );
    const push = await call(w.key, "POST", "/v1/sync/push", { device: "laptop", changes });
    expect(push.status).toBe(200);
    // The same changes again are duplicates: nothing stored, nothing metered.
    expect((await call(w.key, "POST", "/v1/sync/push", { device: "laptop", changes })).status).toBe(200);
    const usage = await call<{ writes: number; memories: number; agents: { list: { id: string }[] } }>(
      w.key,
      "GET",
      "/v1/usage",
    );
    expect([usage.body.writes, usage.body.memories]).toEqual([3, 3]);
    expect(usage.body.agents.list.map((a) => a.id)).toEqual(["laptop"]);
  });

  it("a push past the memory limit stores everything but the new memories without room", async () => {
    const w = await workspace("enterprise", { memories: 2 });
    const actor = newActorId();
    const docs = ["m1", "m2", "m3"].map((c) => createMemoryDoc(sampleMemory({ content: c }), actor));
    const edit = editMemoryDoc(docs[0].doc, { addTags: ["edited"], updated_at: new Date().toISOString() });
    if (!edit) throw new Error("the edit made no change");
    const pushed = [docs[0].change, docs[1].change, docs[2].change, edit.change];
    const res = await call<Refusal>(w.key, "POST", "/v1/sync/push", {
      device: "laptop",
      changes: pushed.map(wire),
    });
    expect(res.status).toBe(402);
    expect(res.body.error.details).toMatchObject({ resource: "memories", limit: 2, usage: 0 });
    const accepted = (res.body.error.details.accepted as { hash: string; status: string }[]).map(
      (r) => r.hash,
    );
    expect(accepted).toEqual([docs[0].change.hash, docs[1].change.hash, edit.change.hash]);
    expect(await memoriesOf(w.key)).toBe(2);
    const m1 = await call<{ tags: string[] }>(w.key, "GET", `/v1/memories/${docs[0].change.docId}`);
    expect(m1.body.tags).toEqual(["edited"]);

    // A delete of an existing memory in a full workspace is stored, and then the third fits.
    const del = editMemoryDoc(edit.doc, { deleted: true, updated_at: new Date().toISOString() });
    if (!del) throw new Error("the delete made no change");
    const deleted = await call(w.key, "POST", "/v1/sync/push", {
      device: "laptop",
      changes: [wire(del.change)],
    });
    expect(deleted.status).toBe(200);
    expect(await memoriesOf(w.key)).toBe(1);
    const again = await call<{ results: { status: string }[] }>(w.key, "POST", "/v1/sync/push", {
      device: "laptop",
      changes: [wire(docs[2].change)],
    });
    expect([again.status, again.body.results[0].status]).toEqual([200, "stored"]);
    expect(await memoriesOf(w.key)).toBe(2);
  });

  it("concurrent writes through two relay processes cannot overshoot the memory limit", async () => {
    const w = await workspace("enterprise", { memories: 10 });
    const second = await startTestRelay(db, { quotaCacheMs: 0 });
    try {
      const statuses = await Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          api(
            i % 2 ? relay.url : second.url,
            "POST",
            "/v1/remember",
            { content: `race entry ${i}` },
            w.key,
          ).then((r) => r.status),
        ),
      );
      expect(statuses.filter((s) => s === 201)).toHaveLength(10);
      expect(statuses.filter((s) => s === 402)).toHaveLength(20);
      expect(await memoriesOf(w.key)).toBe(10);
    } finally {
      await second.close();
    }
  });

  it("the live memory counter the limit reads follows remembers, merges, deletes and purges", async () => {
    const w = await workspace("enterprise", { memories: 100 });
    const counter = async () => {
      const [row] = await db.tx(w.id, (sql) =>
        sql.query<{ counter: string; exact: number }>(
          "SELECT live_memories::text AS counter, (SELECT count(*)::int FROM memories WHERE NOT deleted AND duplicate_of IS NULL) AS exact FROM workspaces WHERE id = $1",
          [w.id],
        ),
      );
      return [Number(row.counter), row.exact];
    };
    const ids: string[] = [];
    for (const c of ["first fact", "second fact", "third fact", "fourth fact"]) {
      ids.push(
        (await call<{ memory_id: string }>(w.key, "POST", "/v1/remember", { content: c })).body.memory_id,
      );
    }
    expect(await counter()).toEqual([4, 4]);
    // The same content again merges into the existing memory: no new one.
    await call(w.key, "POST", "/v1/remember", { content: "first fact", tags: ["again"] });
    expect(await counter()).toEqual([4, 4]);
    await call(w.key, "DELETE", `/v1/memories/${ids[0]}`);
    await call(w.key, "DELETE", `/v1/memories/${ids[1]}?purge=true`);
    expect(await counter()).toEqual([2, 2]);
    await call(w.key, "POST", "/v1/correct", {
      original_id: ids[2],
      corrected_content: "third fact, corrected",
    });
    expect(await counter()).toEqual([3, 3]);
  });

  it("GET /v1/usage gives each count with its plan limit, for this or another month", async () => {
    const w = await workspace("free");
    await call(w.key, "POST", "/v1/remember", { content: "usage note", source_instance: "cli" });
    await call(w.key, "POST", "/v1/recall", { query: "usage" });
    const now = await call<Record<string, unknown>>(w.key, "GET", "/v1/usage");
    expect(now.body).toMatchObject({
      plan: "free",
      memories: 1,
      queries: 1,
      writes: 1,
      embeds: 0,
      limits: { memories: 1000, queries: 10000, agents: 3, writes: null, embeds: null, storage_bytes: null },
      agents: { count: 1, limit: 3, list: [{ id: "cli", kind: "instance" }] },
    });
    expect(now.body.storage_bytes).toBeGreaterThan(0);
    const old = await call<Record<string, unknown>>(w.key, "GET", "/v1/usage?period=2020-01");
    expect(old.body).toMatchObject({
      period: "2020-01",
      resets_at: "2020-02-01T00:00:00.000Z",
      queries: 0,
      writes: 0,
      agents: { count: 0, list: [] },
    });
    const bad = await call<Refusal>(w.key, "GET", "/v1/usage?period=2020-13");
    expect([bad.status, bad.body.error.code]).toEqual([422, "VALIDATION_FAILED"]);
  });
});

function wire(c: { docId: string; hash: string; deps: string[]; bytes: Uint8Array }) {
  return { doc_id: c.docId, hash: c.hash, deps: c.deps, bytes: encodeBytes(c.bytes) };
}
