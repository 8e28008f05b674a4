import { createMemoryDoc, editMemoryDoc, newActorId } from "@tribalmemory/shared/memory/document";
import { newMemoryId } from "@tribalmemory/shared/memory/ids";
import type { Memory } from "@tribalmemory/shared/memory/types";
import { encodeBytes, type ServerMessage } from "@tribalmemory/shared/sync/protocol";
import { sampleMemory } from "@tribalmemory/shared/testing/sample-memory";
import {
  createApiKey,
  createWorkspace,
  type RelayDatabase,
  type RunningRelay,
} from "@tribalmemory/sync-server";
import { openTestDatabase, startTestRelay } from "@tribalmemory/sync-server/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { api, waitFor } from "./harness.ts";

/** Tenancy: one workspace's key reaches nothing of another, over HTTP and WebSocket. */
describe("relay isolation and refusal", () => {
  let db: RelayDatabase;
  let relay: RunningRelay;
  let keyA: string;
  let keyB: string;
  let readOnlyA: string;
  let wsA: string;
  let memA: string;
  let memB: string;

  beforeAll(async () => {
    db = await openTestDatabase();
    relay = await startTestRelay(db);
    const a = await createWorkspace(db, { name: "A" });
    const b = await createWorkspace(db, { name: "B" });
    wsA = a.workspaceId;
    keyA = (await createApiKey(db, a.workspaceId, { name: "a", scopes: ["admin"] })).key;
    readOnlyA = (await createApiKey(db, a.workspaceId, { name: "ro", scopes: ["read"] })).key;
    keyB = (await createApiKey(db, b.workspaceId, { name: "b", scopes: ["admin"] })).key;
    memA = (
      await api<{ memory_id: string }>(
        relay.url,
        "POST",
        "/v1/remember",
        { content: "A's secret: the launch code is alpha" },
        keyA,
      )
    ).body.memory_id;
    memB = (
      await api<{ memory_id: string }>(
        relay.url,
        "POST",
        "/v1/remember",
        { content: "B's secret: the vault combination is 4242" },
        keyB,
      )
    ).body.memory_id;
  }, 60_000);

  afterAll(async () => {
    await relay?.close();
    await db?.close();
  });

  it("a key of workspace A cannot read, search, pull, delete or purge B's memories, even with B's ids", async () => {
    expect((await api(relay.url, "GET", `/v1/memories/${memB}`, undefined, keyA)).status).toBe(404);
    const recall = await api<{ results: { memory: Memory }[] }>(
      relay.url,
      "POST",
      "/v1/recall",
      { query: "vault combination secret" },
      keyA,
    );
    expect(recall.body.results.map((r) => r.memory.content).join()).not.toContain("vault");
    const list = await api<{ memories: Memory[] }>(
      relay.url,
      "GET",
      "/v1/memories?limit=100",
      undefined,
      keyA,
    );
    expect(list.body.memories.map((m) => m.id)).not.toContain(memB);
    const pull = await api<{ entries: { doc_id: string }[] }>(
      relay.url,
      "POST",
      "/v1/sync/pull",
      { cursor: 0 },
      keyA,
    );
    expect(pull.body.entries.map((e) => e.doc_id)).not.toContain(memB);
    expect((await api(relay.url, "DELETE", `/v1/memories/${memB}`, undefined, keyA)).status).toBe(404);
    expect((await api(relay.url, "DELETE", `/v1/memories/${memB}?purge=true`, undefined, keyA)).status).toBe(
      404,
    );
    expect((await api(relay.url, "POST", "/v1/forget", { memory_id: memB }, keyA)).status).toBe(404);
    const still = await api<Memory>(relay.url, "GET", `/v1/memories/${memB}`, undefined, keyB);
    expect(still.body).toMatchObject({ id: memB, deleted: false });
  });

  it("row-level security alone hides another workspace's rows from the app role", async () => {
    const rows = await db.tx(wsA, (sql) => sql.query<{ id: string }>("SELECT id FROM memories"));
    expect(rows.map((r) => r.id)).not.toContain(memB);
    const none = await db.tx(null, (sql) =>
      sql.query<{ n: number }>("SELECT count(*)::int AS n FROM memories"),
    );
    expect(none[0].n).toBe(0);
  });

  it("a change pushed with A's key lands in A only, even one that edits B's memory", async () => {
    // A forged edit of B's memory: its dependencies are B's changes, which A's log does not hold.
    const actor = newActorId();
    const base = createMemoryDoc(sampleMemory({ id: memB, content: "forged copy" }), actor);
    const edit = editMemoryDoc(base.doc, { deleted: true, updated_at: new Date().toISOString() });
    const res = await api<{ error: { code: string } }>(
      relay.url,
      "POST",
      "/v1/sync/push",
      { device: "attacker", changes: [wire(edit?.change as never)] },
      keyA,
    );
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe("SYNC_MISSING_DEPS");
    expect((await api<Memory>(relay.url, "GET", `/v1/memories/${memB}`, undefined, keyB)).body.deleted).toBe(
      false,
    );
  });

  it("refuses malformed, oversized and forged changes with a code and changes nothing", async () => {
    const head = async () =>
      (await api<{ cursor: number }>(relay.url, "POST", "/v1/sync/pull", { cursor: 0, limit: 500 }, keyA))
        .body.cursor;
    const before = await head();
    const good = createMemoryDoc(sampleMemory({ content: "a fine memory" }), newActorId()).change;
    const cases: [unknown, number, string][] = [
      [
        {
          device: "d",
          changes: [
            { ...wire(good), bytes: encodeBytes(new Uint8Array([1, 2, 3, 4])), hash: "a".repeat(64) },
          ],
        },
        422,
        "SYNC_INVALID_CHANGE",
      ],
      [{ device: "d", changes: [{ ...wire(good), hash: "b".repeat(64) }] }, 422, "SYNC_INVALID_CHANGE"],
      [{ device: "d", changes: [{ ...wire(good), doc_id: newMemoryId() }] }, 422, "SYNC_INVALID_CHANGE"],
      [{ device: "d", changes: [{ ...wire(good), deps: ["c".repeat(64)] }] }, 422, "SYNC_INVALID_CHANGE"],
      [{ device: "d", changes: [{ ...wire(good), bytes: "not base64!" }] }, 422, "VALIDATION_FAILED"],
      [{ device: "d", changes: [wire(good), { nope: 1 }] }, 422, "VALIDATION_FAILED"],
      [
        { device: "d", changes: [{ ...wire(good), bytes: "A".repeat(40 * 1024 * 1024) }] },
        413,
        "PAYLOAD_TOO_LARGE",
      ],
    ];
    for (const [body, status, code] of cases) {
      const res = await api<{ error: { code: string } }>(relay.url, "POST", "/v1/sync/push", body, keyA);
      expect([res.status, res.body.error.code]).toEqual([status, code]);
    }
    expect(await head()).toBe(before);
    expect(
      (await api(relay.url, "POST", "/v1/sync/push", { device: "d", changes: [wire(good)] }, readOnlyA))
        .status,
    ).toBe(403);
    expect((await api(relay.url, "POST", "/v1/remember", { content: "x" }, readOnlyA)).status).toBe(403);
    const ok = await api<{ results: { status: string }[] }>(
      relay.url,
      "POST",
      "/v1/sync/push",
      { device: "d", changes: [wire(good), wire(good)] },
      keyA,
    );
    expect(ok.body.results.map((r) => r.status)).toEqual(["stored", "duplicate"]);
  });

  it("meters usage, embeds text, and audits every write, delete and key operation", async () => {
    const id = (
      await api<{ memory_id: string }>(
        relay.url,
        "POST",
        "/v1/remember",
        { content: "audited fact about queues" },
        keyA,
      )
    ).body.memory_id;
    await api(relay.url, "POST", "/v1/recall", { query: "queues" }, keyA);
    await api(relay.url, "DELETE", `/v1/memories/${id}`, undefined, keyA);
    const made = await api<{ id: string; key: string; prefix: string }>(
      relay.url,
      "POST",
      "/v1/auth/keys",
      { name: "ci", scopes: ["read"] },
      keyA,
    );
    expect(made.status).toBe(201);
    expect(made.body.key.startsWith(made.body.prefix)).toBe(true);
    await api(relay.url, "DELETE", `/v1/auth/keys/${made.body.id}`, undefined, keyA);
    const rows = await db.tx(wsA, (sql) =>
      sql.query<{ action: string; target: string | null }>(
        "SELECT action, target FROM audit_log ORDER BY id",
      ),
    );
    const actions = rows.map((r) => `${r.action} ${r.target ?? ""}`);
    expect(actions).toContain(`POST /v1/remember ${id}`);
    expect(actions).toContain(`DELETE /v1/memories/:id ${id}`);
    expect(actions).toContain(`key.create ${made.body.id}`);
    expect(actions).toContain(`key.revoke ${made.body.id}`);
    const usage = await api<{ queries: number; writes: number; memories: number; storage_bytes: number }>(
      relay.url,
      "GET",
      "/v1/usage",
      undefined,
      keyA,
    );
    expect(usage.body.queries).toBeGreaterThanOrEqual(1);
    expect(usage.body.writes).toBeGreaterThanOrEqual(2);
    expect(usage.body.storage_bytes).toBeGreaterThan(0);
    const emb = await api<{ model: string; dims: number; embeddings: number[][] }>(
      relay.url,
      "POST",
      "/v1/embed",
      { texts: ["a", "b c"] },
      keyA,
    );
    expect([emb.body.dims, emb.body.embeddings.length, emb.body.embeddings[0].length]).toEqual([384, 2, 384]);
    const hashes = await db.tx(wsA, (sql) =>
      sql.query<{ key_hash: string }>("SELECT key_hash FROM api_keys"),
    );
    // A's keys: a, ro and the revoked ci key, each stored only as a SHA-256 hash.
    expect(hashes).toHaveLength(3);
    expect(hashes.every((h) => /^[0-9a-f]{64}$/.test(h.key_hash))).toBe(true);
  });

  it("over WebSocket a key streams only its workspace, is refused without a key, and a revoked key is cut off at once", async () => {
    const noKey = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`${relay.url.replace("http", "ws")}/v1/sync`);
      ws.on("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
      ws.on("open", () => resolve(101));
      ws.on("error", () => undefined);
    });
    expect(noKey).toBe(401);

    const temp = await api<{ id: string; key: string }>(
      relay.url,
      "POST",
      "/v1/auth/keys",
      { name: "temp", scopes: ["read", "write"] },
      keyA,
    );
    const ws = new WebSocket(`${relay.url.replace("http", "ws")}/v1/sync`, {
      headers: { authorization: `Bearer ${temp.body.key}` },
    });
    const got: ServerMessage[] = [];
    let closed = false;
    ws.on("message", (d) => {
      const m = JSON.parse(d.toString()) as ServerMessage;
      got.push(m);
      if (m.type === "changes") ws.send(JSON.stringify({ type: "applied", cursor: m.cursor }));
    });
    ws.on("close", () => {
      closed = true;
    });
    await new Promise((r) => ws.on("open", r));
    ws.send(JSON.stringify({ type: "hello", protocol: 1, device: "probe", actor: newActorId(), cursor: 0 }));
    await waitFor("live", async () => got.some((m) => m.type === "live"));
    const docs = got.flatMap((m) => (m.type === "changes" ? m.entries.map((e) => e.doc_id) : []));
    expect(docs).toContain(memA);
    expect(docs).not.toContain(memB);

    ws.send(JSON.stringify({ type: "push", id: 1, changes: [{ bogus: true }] }));
    await waitFor("validation error", async () =>
      got.some((m) => m.type === "error" && m.id === 1 && m.code === "VALIDATION_FAILED"),
    );

    expect((await api(relay.url, "DELETE", `/v1/auth/keys/${temp.body.id}`, undefined, keyA)).status).toBe(
      200,
    );
    await waitFor("socket closed on revocation", async () => closed, 5000);
    const http = await api<{ error: { code: string } }>(
      relay.url,
      "GET",
      "/v1/stats",
      undefined,
      temp.body.key,
    );
    expect([http.status, http.body.error.code]).toEqual([401, "API_KEY_REVOKED"]);
    const keys = await api<{ keys: { id: string; revoked_at: string | null; prefix: string }[] }>(
      relay.url,
      "GET",
      "/v1/auth/keys",
      undefined,
      keyA,
    );
    const k = keys.body.keys.find((x) => x.id === temp.body.id);
    expect(k?.revoked_at).not.toBeNull();
    expect(JSON.stringify(keys.body)).not.toContain(temp.body.key);
  });
});

function wire(c: { docId: string; hash: string; deps: string[]; bytes: Uint8Array }) {
  return { doc_id: c.docId, hash: c.hash, deps: c.deps, bytes: encodeBytes(c.bytes) };
}
