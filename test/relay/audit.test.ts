import { createHash, randomUUID } from "node:crypto";
import { DEFAULT_MIN_RELEVANCE } from "@tribalmemory/shared/memory/schemas";
import {
  createApiKey,
  createWorkspace,
  type RelayDatabase,
  type RunningRelay,
  setPlan,
} from "@tribalmemory/sync-server";
import { api } from "@tribalmemory/sync-server/testing";
import { describe, expect, it } from "vitest";
import { AccountClient } from "../helpers/account-client.ts";
import { useTestRelay } from "../helpers/relay.ts";

interface AuditRow {
  id: number;
  at: string;
  key_id: string | null;
  user_id: string | null;
  device_id: string | null;
  action: string;
  target: string | null;
  details: Record<string, unknown> | null;
}
type Page = { entries: AuditRow[]; next_cursor: string | null };

const sha256 = (s: string) => createHash("sha256").update(s, "utf8").digest("hex");

async function text(url: string, key: string): Promise<{ status: number; type: string; body: string }> {
  const res = await fetch(url, { headers: { authorization: `Bearer ${key}` } });
  return { status: res.status, type: res.headers.get("content-type") ?? "", body: await res.text() };
}
const jsonLines = <T>(body: string) =>
  body
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as T);

/** The audit log (migration 7): who did what when, readable by admins, recalls without their text. */
describe("relay audit log", () => {
  let db: RelayDatabase;
  let relay: RunningRelay;
  let ws: string;
  let owner: string;
  let adminKey: { id: string; key: string };
  let writeKey: { id: string; key: string };
  let readKey: string;
  let audit: (query: string, key?: string) => Promise<{ status: number; body: Page }>;

  useTestRelay(async (d, r) => {
    db = d;
    relay = r;
    const w = await createWorkspace(db, { name: "audited", userEmail: `owner-${randomUUID()}@example.com` });
    ws = w.workspaceId;
    owner = w.userId;
    adminKey = await createApiKey(db, ws, { name: "admin", scopes: ["admin"], userId: owner });
    writeKey = await createApiKey(db, ws, { name: "writer", scopes: ["write"], userId: owner });
    readKey = (await createApiKey(db, ws, { name: "reader", scopes: ["read"] })).key;
    audit = (query, key = adminKey.key) => api<Page>(relay.url, "GET", `/v1/audit${query}`, undefined, key);
  });

  it("a recall is audited as its query's SHA-256, filters and result count; the query text is nowhere in the audit table", async () => {
    const secret = "where-is-the-zebra-cobalt-vault";
    await api(
      relay.url,
      "POST",
      "/v1/remember",
      { content: "The zebra cobalt vault is in Oslo" },
      writeKey.key,
    );
    const recall = await api<{ results: unknown[] }>(
      relay.url,
      "POST",
      "/v1/recall",
      { query: secret, limit: 3, tags: null },
      writeKey.key,
    );
    expect(recall.status).toBe(200);
    const page = await audit("?action=memory.recall");
    expect(page.status).toBe(200);
    expect(page.body.entries[0]).toMatchObject({
      action: "memory.recall",
      key_id: writeKey.id,
      user_id: owner,
      details: {
        query_sha256: sha256(secret),
        filters: {
          limit: 3,
          min_relevance: DEFAULT_MIN_RELEVANCE,
          include_superseded: false,
          sources: "memories",
        },
        result_count: recall.body.results.length,
      },
    });
    // A search of session transcripts is audited the same way.
    const search = await api(relay.url, "GET", `/v1/sessions/search?q=${secret}`, undefined, writeKey.key);
    expect(search.status).toBe(200);
    expect((await audit("?action=session.search")).body.entries[0]).toMatchObject({
      key_id: writeKey.id,
      details: { query_sha256: sha256(secret), result_count: 0 },
    });
    const [dump] = await db.tx(ws, (sql) =>
      sql.query<{ t: string }>("SELECT string_agg(a::text, ' ') AS t FROM audit_log a"),
    );
    expect(dump.t).toContain(sha256(secret));
    expect(dump.t).not.toContain(secret);
    expect(dump.t).not.toContain("zebra");
  });

  it("recording a recall's audit row adds no statement: it rides on the one that counts the query", async () => {
    // Every SQL text the relay sends while answering one recall (statements and transactions).
    const texts: string[] = [];
    const { statement, tx } = db;
    db.statement = (async (t: string, p?: unknown[]) => {
      texts.push(t);
      return statement.call(db, t, p);
    }) as typeof db.statement;
    db.tx = ((id: string | null, fn: (sql: { query: (t: string, p?: unknown[]) => unknown }) => unknown) =>
      tx.call(
        db,
        id,
        (sql) =>
          fn({
            query: (t: string, p?: unknown[]) => {
              texts.push(t);
              return sql.query(t, p);
            },
          }) as never,
      )) as typeof db.tx;
    try {
      const res = await api(relay.url, "POST", "/v1/recall", { query: "cobalt" }, writeKey.key);
      expect(res.status).toBe(200);
    } finally {
      db.statement = statement;
      db.tx = tx;
    }
    expect(texts.filter((t) => t.includes("tm_record_request"))).toHaveLength(1);
    expect(texts.filter((t) => /audit_log/i.test(t))).toEqual([]);
    const [row] = (await audit("?action=memory.recall&limit=1")).body.entries;
    expect(row.details?.query_sha256).toBe(sha256("cobalt"));
  });

  it("writes, deletes, purges, key changes and exports are each audited with key, user and device", async () => {
    const made = await fetch(`${relay.url}/v1/remember`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${writeKey.key}`,
        "content-type": "application/json",
        "x-tribal-device": "laptop-7",
      },
      body: JSON.stringify({ content: "Deploys happen on Tuesdays" }),
    });
    const id = ((await made.json()) as { memory_id: string }).memory_id;
    expect((await api(relay.url, "POST", "/v1/forget", { memory_id: id }, writeKey.key)).status).toBe(200);
    expect(
      (await api(relay.url, "DELETE", `/v1/memories/${id}?purge=true`, undefined, adminKey.key)).status,
    ).toBe(200);
    const key = await api<{ id: string }>(
      relay.url,
      "POST",
      "/v1/auth/keys",
      { name: "ci", scopes: ["read"] },
      adminKey.key,
    );
    await api(relay.url, "DELETE", `/v1/auth/keys/${key.body.id}`, undefined, adminKey.key);
    expect((await text(`${relay.url}/v1/export?format=jsonl`, readKey)).status).toBe(200);

    const rows = (await audit("?limit=500")).body.entries;
    const find = (action: string, target?: string) =>
      rows.find((r) => r.action === action && (target === undefined || r.target === target));
    expect(find("POST /v1/remember", id)).toMatchObject({
      key_id: writeKey.id,
      user_id: owner,
      device_id: "laptop-7",
    });
    expect(find("POST /v1/forget", id)).toMatchObject({ key_id: writeKey.id, user_id: owner });
    expect(find("DELETE /v1/memories/:id?purge=true", id)).toMatchObject({ key_id: adminKey.id });
    expect(find("key.create", key.body.id)).toMatchObject({ key_id: adminKey.id });
    expect(find("key.revoke", key.body.id)).toMatchObject({ key_id: adminKey.id });
    expect(find("memory.export")).toMatchObject({ details: { method: "GET", format: "jsonl" } });
    // Newest first, each with its time.
    expect(rows.map((r) => r.id)).toEqual([...rows.map((r) => r.id)].sort((a, b) => b - a));
    expect(Number.isNaN(Date.parse(rows[0].at))).toBe(false);
  });

  it("a plan change is audited, whichever path makes it", async () => {
    await setPlan(db, ws, { plan: "pro", source: "admin", reference: "ticket 42" });
    const [row] = (await audit("?action=plan.")).body.entries;
    expect(row).toMatchObject({
      action: "plan.change",
      target: "pro",
      details: { from: "free", source: "admin", reference: "ticket 42" },
    });
  });

  it("filters: an action prefix, key, user, device and a time window", async () => {
    const keys = (await audit("?action=key.")).body.entries;
    expect(keys.length).toBeGreaterThanOrEqual(4);
    expect(new Set(keys.map((r) => r.action))).toEqual(new Set(["key.create", "key.revoke"]));
    expect((await audit("?action=key.*")).body.entries).toEqual(keys);
    expect((await audit("?action=key")).body.entries).toEqual([]);

    const byKey = (await audit(`?key_id=${writeKey.id}`)).body.entries;
    expect(byKey.length).toBeGreaterThan(0);
    expect(byKey.every((r) => r.key_id === writeKey.id)).toBe(true);
    const byUser = (await audit(`?user_id=${owner}`)).body.entries;
    expect(byUser.length).toBeGreaterThan(0);
    expect(byUser.every((r) => r.user_id === owner)).toBe(true);
    const byDevice = (await audit("?device_id=laptop-7")).body.entries;
    expect(byDevice.map((r) => r.action)).toEqual(["POST /v1/remember"]);

    const all = (await audit("?limit=500")).body.entries;
    const newest = all[0].at;
    expect((await audit(`?since=${encodeURIComponent(newest)}`)).body.entries.map((r) => r.id)).toEqual(
      all.filter((r) => r.at >= newest).map((r) => r.id),
    );
    const past = (await audit(`?until=${encodeURIComponent("2000-01-01T00:00:00Z")}`)).body.entries;
    expect(past).toEqual([]);
  });

  it("cursor paging: newest first, no row twice or missed while rows are added between pages", async () => {
    await db.tx(ws, (sql) =>
      sql.query(
        "INSERT INTO audit_log (workspace_id, action, target) SELECT $1, 'test.page', g::text FROM generate_series(1, 25) g",
        [ws],
      ),
    );
    const first = await audit("?action=test.page&limit=10");
    expect(first.body.entries.map((r) => r.target)).toEqual(
      Array.from({ length: 10 }, (_, i) => String(25 - i)),
    );
    expect(first.body.next_cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    // Rows added after the first page come before it, never into a later page.
    await db.tx(ws, (sql) =>
      sql.query("INSERT INTO audit_log (workspace_id, action, target) VALUES ($1, 'test.page', 'late')", [
        ws,
      ]),
    );
    const seen = [...first.body.entries.map((r) => r.target)];
    let cursor = first.body.next_cursor;
    while (cursor) {
      const page = await audit(`?action=test.page&limit=10&cursor=${cursor}`);
      seen.push(...page.body.entries.map((r) => r.target));
      cursor = page.body.next_cursor;
    }
    expect(seen).toEqual(Array.from({ length: 25 }, (_, i) => String(25 - i)));
    expect((await audit("?action=test.page&limit=26")).body).toMatchObject({ next_cursor: null });
  });

  it("bad queries are refused with a code, and only admin keys read the log", async () => {
    for (const q of [
      "?cursor=bm90LWEtY3Vyc29y",
      "?limit=501",
      "?limit=0",
      "?since=yesterday",
      "?key_id=x",
      "?x=1",
    ]) {
      const res = await audit(q);
      expect(res.status, q).toBe(422);
      expect((res.body as unknown as { error: { code: string } }).error.code, q).toBe("VALIDATION_FAILED");
    }
    const denied = await api<{ error: { code: string } }>(
      relay.url,
      "GET",
      "/v1/audit",
      undefined,
      writeKey.key,
    );
    expect(denied.status).toBe(403);
    expect(denied.body.error.code).toBe("FORBIDDEN");
    expect((await text(`${relay.url}/v1/audit/export`, readKey)).status).toBe(403);
  });

  it("GET /v1/audit/export streams every filtered row as JSON lines, and is audited itself", async () => {
    const res = await text(`${relay.url}/v1/audit/export?action=test.`, adminKey.key);
    expect(res.status).toBe(200);
    expect(res.type).toContain("application/x-ndjson");
    const rows = jsonLines<AuditRow>(res.body);
    expect(rows).toHaveLength(26);
    expect(rows.every((r) => r.action === "test.page")).toBe(true);
    const same = await text(`${relay.url}/v1/audit?format=jsonl&action=test.`, adminKey.key);
    expect(jsonLines<AuditRow>(same.body)).toEqual(rows);
    const exports = (await audit("?action=audit.export")).body.entries;
    expect(exports).toHaveLength(2);
    expect(exports[0]).toMatchObject({ key_id: adminKey.id, details: { filters: { action: "test." } } });
  });

  it("a member's data export holds their user row, membership, keys, audit rows and memories, no secret, and is audited", async () => {
    const member = randomUUID();
    await db.tx(ws, async (sql) => {
      await sql.query("INSERT INTO users (id, email, name) VALUES ($1, $2, 'Mia')", [
        member,
        `mia-${member}@example.com`,
      ]);
      await sql.query("INSERT INTO memberships (workspace_id, user_id, role) VALUES ($1, $2, 'member')", [
        ws,
        member,
      ]);
    });
    const miaKey = await createApiKey(db, ws, { name: "mia", scopes: ["write"], userId: member });
    const mine = (
      await api<{ memory_id: string }>(
        relay.url,
        "POST",
        "/v1/remember",
        { content: "Mia prefers tea" },
        miaKey.key,
      )
    ).body.memory_id;
    const batch = await api<{ results: { memory_id: string }[] }>(
      relay.url,
      "POST",
      "/v1/remember/batch",
      { memories: [{ content: "Mia's desk is 4B" }, { content: "Mia's team is Platform" }] },
      miaKey.key,
    );
    const theirs = (
      await api<{ memory_id: string }>(
        relay.url,
        "POST",
        "/v1/remember",
        { content: "The owner's note" },
        writeKey.key,
      )
    ).body.memory_id;

    const path = `/v1/workspaces/${ws}/members/${member}/export`;
    const own = await text(`${relay.url}${path}`, miaKey.key);
    expect(own.status).toBe(200);
    expect(own.type).toContain("application/x-ndjson");
    const lines = jsonLines<{ type: string; [k: string]: unknown }>(own.body);
    expect(lines[0]).toMatchObject({ type: "user", user: { id: member, name: "Mia" } });
    expect(lines[1]).toMatchObject({ type: "membership", membership: { user_id: member, role: "member" } });
    expect(lines.filter((l) => l.type === "key")).toEqual([
      { type: "key", workspace_id: ws, key: expect.objectContaining({ id: miaKey.id, name: "mia" }) },
    ]);
    const memories = lines
      .filter((l) => l.type === "memory")
      .map((l) => (l.memory as { id: string }).id)
      .sort();
    expect(memories).toEqual([mine, ...batch.body.results.map((r) => r.memory_id)].sort());
    expect(memories).not.toContain(theirs);
    const auditRows = lines.filter((l) => l.type === "audit").map((l) => l.audit as AuditRow);
    expect(auditRows.some((r) => r.action === "POST /v1/remember" && r.target === mine)).toBe(true);
    expect(
      auditRows.every((r) => r.user_id === member || r.target === member || r.key_id === miaKey.id),
    ).toBe(true);
    expect(own.body).not.toContain("password_hash");
    expect(own.body).not.toContain("key_hash");
    expect(own.body).not.toContain(miaKey.key);

    // An admin may export any member; a member may not export another.
    expect((await text(`${relay.url}${path}`, adminKey.key)).status).toBe(200);
    const other = await text(`${relay.url}/v1/workspaces/${ws}/members/${owner}/export`, miaKey.key);
    expect(other.status).toBe(403);
    const elsewhere = await text(
      `${relay.url}/v1/workspaces/${randomUUID()}/members/${member}/export`,
      adminKey.key,
    );
    expect(elsewhere.status).toBe(403);
    const nobody = await api<{ error: { code: string } }>(
      relay.url,
      "GET",
      `/v1/workspaces/${ws}/members/${randomUUID()}/export`,
      undefined,
      adminKey.key,
    );
    expect(nobody.status).toBe(404);
    expect(nobody.body.error.code).toBe("MEMBER_NOT_FOUND");

    const audited = (await audit("?action=member.export")).body.entries;
    expect(audited.map((r) => [r.key_id, r.target])).toEqual([
      [adminKey.id, member],
      [miaKey.id, member],
    ]);
  });
  it("GET /v1/me/export: a logged-in user's data in every workspace they belong to, audited in each", async () => {
    const me = new AccountClient(relay.url);
    const { user, workspace } = await me.signup(`me-${randomUUID()}@example.com`);
    const first = workspace?.id as string;
    const second = (await me.call("POST", "/v1/workspaces", { name: "second" })).body.workspace.id as string;
    const note = await me.call(
      "POST",
      "/v1/remember",
      { content: "My own note on cats" },
      { workspace: second },
    );
    expect(note.status).toBe(201);

    const res = await fetch(`${relay.url}/v1/me/export`, { headers: { cookie: me.cookie as string } });
    expect(res.status).toBe(200);
    const body = await res.text();
    const lines = jsonLines<{ type: string; workspace_id: string; [k: string]: unknown }>(body);
    expect(
      lines
        .filter((l) => l.type === "membership")
        .map((l) => l.workspace_id)
        .sort(),
    ).toEqual([first, second].sort());
    expect(
      lines.filter((l) => l.type === "user").every((l) => (l.user as { id: string }).id === user.id),
    ).toBe(true);
    expect(lines.filter((l) => l.type === "memory")).toEqual([
      expect.objectContaining({
        workspace_id: second,
        memory: expect.objectContaining({ id: note.body.memory_id }),
      }),
    ]);
    expect(body).not.toContain("password_hash");
    // Without a login session there is nothing to export.
    expect((await api(relay.url, "GET", "/v1/me/export", undefined, adminKey.key)).status).not.toBe(200);
    for (const w of [first, second]) {
      const [row] = await db.tx(w, (sql) =>
        sql.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM audit_log WHERE action = 'member.export' AND user_id = $1 AND target = $1::text",
          [user.id],
        ),
      );
      expect(row.n, w).toBe(1);
    }
  });
});
