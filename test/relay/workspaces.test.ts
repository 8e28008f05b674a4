import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join as joinPath } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { RelayDatabase, RunningRelay } from "@tribalmemory/sync-server";
import { EVENTS_CHANNEL } from "@tribalmemory/sync-server/store/pg-store";
import { api, openTestDatabase, startTestRelay } from "@tribalmemory/sync-server/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { AccountClient } from "../helpers/account-client.ts";

/**
 * Workspaces, members, invitations and keys of logged-in users over real HTTP (migration 5):
 * tenants stay apart (also under the app role's row-level security with `app.user_id`), roles
 * bound what a member may do, the last owner stays, a removed member's keys die with their
 * membership, and a confirmed deletion leaves no row of the workspace behind.
 */

let db: RelayDatabase;
let relay: RunningRelay;
let seq = 0;
const email = (who: string) => `${who}-${Date.now()}-${++seq}@example.com`;

function asOwner<T = Record<string, unknown>>(text: string, params: unknown[] = []): Promise<T[]> {
  if (!db.asOwner) throw new Error("the test database needs an owner connection");
  return db.asOwner((sql) => sql.query<T>(text, params));
}

/** A user with a session and their first workspace. */
async function user(who: string) {
  const c = new AccountClient(relay.url);
  const { user, workspace } = await c.signup(email(who));
  return { c, id: user.id, ws: workspace?.id as string, email: user.email };
}

/** Invite `invitee` into `ws` with `role` and accept it. */
async function join(owner: AccountClient, ws: string, invitee: AccountClient, role: string) {
  const inv = await owner.call("POST", `/v1/workspaces/${ws}/invitations`, { role });
  expect(inv.status).toBe(201);
  const accepted = await invitee.call("POST", "/v1/invitations/accept", { token: inv.body.token });
  expect(accepted.status).toBe(200);
  return accepted.body;
}

/** An open sync socket on `key`, and a promise of the code it is closed with. */
async function syncSocket(key: string): Promise<{ closed: Promise<number>; ws: WebSocket }> {
  const ws = new WebSocket(`${relay.url.replace("http", "ws")}/v1/sync`, {
    headers: { authorization: `Bearer ${key}` },
  });
  const closed = new Promise<number>((resolve) => ws.once("close", (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  return { closed, ws };
}

const remember = (c: AccountClient, ws: string, content: string) =>
  c.call("POST", "/v1/remember", { content, source_type: "user_explicit" }, { workspace: ws });

beforeAll(async () => {
  db = await openTestDatabase();
  relay = await startTestRelay(db);
});
afterAll(async () => {
  await relay?.close();
  await db?.close();
});

describe("tenants", () => {
  it("two users never see each other's workspaces, members, keys or memories", async () => {
    const a = await user("iso-a");
    const b = await user("iso-b");
    expect((await remember(a.c, a.ws, "alpha secret plan")).status).toBe(201);
    const aKey = await a.c.call("POST", `/v1/workspaces/${a.ws}/keys`, { name: "a", scopes: ["admin"] });
    expect(aKey.status).toBe(201);
    const bKey = await b.c.call("POST", `/v1/workspaces/${b.ws}/keys`, { name: "b", scopes: ["admin"] });

    const bList = await b.c.call("GET", "/v1/workspaces");
    expect(bList.body.workspaces.map((w: { id: string }) => w.id)).toEqual([b.ws]);
    for (const path of [`/v1/workspaces/${a.ws}/members`, `/v1/workspaces/${a.ws}/keys`]) {
      const r = await b.c.call("GET", path);
      expect(r.status, path).toBe(404);
      expect(r.body.error.code).toBe("WORKSPACE_NOT_FOUND");
    }
    const recall = await b.c.call("POST", "/v1/recall", { query: "alpha secret plan" }, { workspace: a.ws });
    expect(recall.status).toBe(404);
    const own = await b.c.call("POST", "/v1/recall", { query: "alpha secret plan" }, { workspace: b.ws });
    expect(own.status).toBe(200);
    expect(own.body.results).toEqual([]);
    // B's admin key is no key of A's workspace either.
    const byKey = await api(relay.url, "GET", `/v1/workspaces/${a.ws}/members`, undefined, bKey.body.key);
    expect(byKey.status).toBe(404);

    // Under the app role's row-level security, B's scope holds B's rows only.
    const seen = await db.tx(null, async (sql) => {
      await sql.query("SELECT set_config('app.user_id', $1, true)", [b.id]);
      return {
        users: await sql.query<{ id: string }>("SELECT id FROM users"),
        memberships: await sql.query<{ workspace_id: string }>("SELECT workspace_id FROM memberships"),
        workspaces: await sql.query<{ id: string }>("SELECT id FROM workspaces"),
        keys: await sql.query("SELECT id FROM api_keys"),
        memories: await sql.query("SELECT id FROM memories"),
        sessions: await sql.query<{ user_id: string }>("SELECT user_id FROM login_sessions"),
      };
    });
    expect(seen.users.map((u) => u.id)).toEqual([b.id]);
    expect(seen.memberships.map((m) => m.workspace_id)).toEqual([b.ws]);
    expect(seen.workspaces.map((w) => w.id)).toEqual([b.ws]);
    expect(seen.keys).toEqual([]);
    expect(seen.memories).toEqual([]);
    expect(new Set(seen.sessions.map((s) => s.user_id))).toEqual(new Set([b.id]));
  });

  it("a viewer reads but cannot write memories; a member cannot manage members, invitations or keys", async () => {
    const a = await user("roles-a");
    const viewer = await user("roles-viewer");
    const member = await user("roles-member");
    await join(a.c, a.ws, viewer.c, "viewer");
    await join(a.c, a.ws, member.c, "member");
    expect((await remember(a.c, a.ws, "written by the owner")).status).toBe(201);

    const write = await remember(viewer.c, a.ws, "viewer write");
    expect(write.status).toBe(403);
    expect(write.body.error.code).toBe("FORBIDDEN");
    const read = await viewer.c.call(
      "POST",
      "/v1/recall",
      { query: "written by the owner" },
      { workspace: a.ws },
    );
    expect(read.status).toBe(200);
    expect(read.body.results.length).toBeGreaterThan(0);

    expect((await remember(member.c, a.ws, "member write")).status).toBe(201);
    for (const [method, path, body] of [
      ["PATCH", `/v1/workspaces/${a.ws}/members/${viewer.id}`, { role: "admin" }],
      ["POST", `/v1/workspaces/${a.ws}/invitations`, { role: "member" }],
      ["POST", `/v1/workspaces/${a.ws}/keys`, { scopes: ["admin"] }],
      ["PATCH", `/v1/workspaces/${a.ws}`, { name: "taken over" }],
    ] as const) {
      const r = await member.c.call(method, path, body);
      expect(r.status, path).toBe(403);
      expect(r.body.error.code).toBe("ROLE_FORBIDDEN");
    }
    const members = await member.c.call("GET", `/v1/workspaces/${a.ws}/members`);
    expect(members.status).toBe(200);
    expect(
      members.body.members.map((m: { user_id: string; role: string }) => [m.user_id, m.role]).sort(),
    ).toEqual(
      [
        [a.id, "owner"],
        [viewer.id, "viewer"],
        [member.id, "member"],
      ].sort(),
    );
  });
});

describe("invitations", () => {
  it("an invitation gives a token once with a /invite# link; accepted, it gives its role; reused 409 INVITATION_USED", async () => {
    const a = await user("inv-a");
    const b = await user("inv-b");
    const inv = await a.c.call("POST", `/v1/workspaces/${a.ws}/invitations`, { role: "admin" });
    expect(inv.status).toBe(201);
    expect(inv.body.link_path).toBe(`/invite#${inv.body.token}`);
    expect(inv.body.invitation).toMatchObject({ role: "admin", email: null });
    const days = (new Date(inv.body.invitation.expires_at).getTime() - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(6.9);
    expect(days).toBeLessThanOrEqual(7);
    const pending = await a.c.call("GET", `/v1/workspaces/${a.ws}/invitations`);
    expect(pending.body.invitations.map((i: { id: string }) => i.id)).toEqual([inv.body.invitation.id]);
    expect(JSON.stringify(pending.body)).not.toContain(inv.body.token);

    const accepted = await b.c.call("POST", "/v1/invitations/accept", { token: inv.body.token });
    expect(accepted.body).toEqual({ workspace_id: a.ws, role: "admin", already_member: false });
    const mine = await b.c.call("GET", "/v1/workspaces");
    expect(mine.body.workspaces).toContainEqual(expect.objectContaining({ id: a.ws, role: "admin" }));
    expect((await a.c.call("GET", `/v1/workspaces/${a.ws}/invitations`)).body.invitations).toEqual([]);

    const again = await (await user("inv-c")).c.call("POST", "/v1/invitations/accept", {
      token: inv.body.token,
    });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe("INVITATION_USED");
  });

  it("expired 410 INVITATION_EXPIRED, revoked or unknown 404 INVITATION_NOT_FOUND, another email 403 INVITATION_EMAIL_MISMATCH", async () => {
    const a = await user("inv2-a");
    const b = await user("inv2-b");
    const expiring = await a.c.call("POST", `/v1/workspaces/${a.ws}/invitations`, { role: "member" });
    await asOwner("UPDATE invitations SET expires_at = now() - interval '1 second' WHERE id = $1", [
      expiring.body.invitation.id,
    ]);
    const expired = await b.c.call("POST", "/v1/invitations/accept", { token: expiring.body.token });
    expect(expired.status).toBe(410);
    expect(expired.body.error.code).toBe("INVITATION_EXPIRED");

    const revoking = await a.c.call("POST", `/v1/workspaces/${a.ws}/invitations`, { role: "member" });
    const del = await a.c.call("DELETE", `/v1/workspaces/${a.ws}/invitations/${revoking.body.invitation.id}`);
    expect(del.status).toBe(200);
    const revoked = await b.c.call("POST", "/v1/invitations/accept", { token: revoking.body.token });
    expect(revoked.status).toBe(404);
    expect(revoked.body.error.code).toBe("INVITATION_NOT_FOUND");
    const unknown = await b.c.call("POST", "/v1/invitations/accept", { token: "x".repeat(43) });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe("INVITATION_NOT_FOUND");

    const bound = await a.c.call("POST", `/v1/workspaces/${a.ws}/invitations`, {
      role: "viewer",
      email: "Someone.Else@Example.com",
    });
    expect(bound.body.invitation.email).toBe("someone.else@example.com");
    const mismatch = await b.c.call("POST", "/v1/invitations/accept", { token: bound.body.token });
    expect(mismatch.status).toBe(403);
    expect(mismatch.body.error.code).toBe("INVITATION_EMAIL_MISMATCH");
    // None of the refused acceptances made B a member.
    expect(
      (await b.c.call("GET", "/v1/workspaces")).body.workspaces.map((w: { id: string }) => w.id),
    ).toEqual([b.ws]);

    const right = await b.c.call("POST", `/v1/workspaces/${b.ws}/invitations`, {
      role: "member",
      email: a.email,
    });
    const ok = await a.c.call("POST", "/v1/invitations/accept", { token: right.body.token });
    expect(ok.status).toBe(200);
    expect(ok.body.role).toBe("member");
  });

  it("the sync socket takes API keys only: an upgrade with the session cookie is refused (401)", async () => {
    const a = await user("ws-cookie");
    const ws = new WebSocket(`${relay.url.replace("http", "ws")}/v1/sync`, {
      headers: { cookie: a.c.cookie as string, "x-tribal-workspace": a.ws },
    });
    const status = await new Promise<number>((resolve) => {
      ws.once("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
      ws.once("open", () => resolve(101));
    });
    ws.on("error", () => undefined);
    ws.terminate();
    expect(status).toBe(401);
  });

  it("accepting needs a login session, not an API key (401 SESSION_REQUIRED)", async () => {
    const a = await user("inv3-a");
    const key = await a.c.call("POST", `/v1/workspaces/${a.ws}/keys`, { scopes: ["admin"] });
    const inv = await a.c.call("POST", `/v1/workspaces/${a.ws}/invitations`, { role: "member" });
    const r = await api(relay.url, "POST", "/v1/invitations/accept", { token: inv.body.token }, key.body.key);
    expect(r.status).toBe(401);
    expect((r.body as { error: { code: string } }).error.code).toBe("SESSION_REQUIRED");
  });
});

describe("members", () => {
  it("the last owner cannot leave, be removed or be demoted (409 LAST_OWNER); only an owner makes owners", async () => {
    const a = await user("own-a");
    const b = await user("own-b");
    await join(a.c, a.ws, b.c, "admin");

    const leave = await a.c.call("DELETE", `/v1/workspaces/${a.ws}/members/${a.id}`);
    expect(leave.status).toBe(409);
    expect(leave.body.error.code).toBe("LAST_OWNER");
    const demote = await a.c.call("PATCH", `/v1/workspaces/${a.ws}/members/${a.id}`, { role: "admin" });
    expect(demote.status).toBe(409);
    expect(demote.body.error.code).toBe("LAST_OWNER");
    const byAdmin = await b.c.call("DELETE", `/v1/workspaces/${a.ws}/members/${a.id}`);
    expect(byAdmin.status).toBe(403);
    expect(byAdmin.body.error.code).toBe("ROLE_FORBIDDEN");
    const selfPromote = await b.c.call("PATCH", `/v1/workspaces/${a.ws}/members/${b.id}`, { role: "owner" });
    expect(selfPromote.status).toBe(403);
    expect(selfPromote.body.error.code).toBe("ROLE_FORBIDDEN");

    const promote = await a.c.call("PATCH", `/v1/workspaces/${a.ws}/members/${b.id}`, { role: "owner" });
    expect(promote.status).toBe(200);
    expect(promote.body.member).toMatchObject({ user_id: b.id, role: "owner" });
    const left = await a.c.call("DELETE", `/v1/workspaces/${a.ws}/members/${a.id}`);
    expect(left.status).toBe(200);
    expect((await a.c.call("GET", "/v1/workspaces")).body.workspaces).toEqual([]);
    const bLeaves = await b.c.call("DELETE", `/v1/workspaces/${a.ws}/members/${b.id}`);
    expect(bLeaves.body.error.code).toBe("LAST_OWNER");
  });

  it("removing a member revokes every key they created there: their next call is 401 API_KEY_REVOKED", async () => {
    const a = await user("rm-a");
    const b = await user("rm-b");
    await join(a.c, a.ws, b.c, "admin");
    const bKey = await b.c.call("POST", `/v1/workspaces/${a.ws}/keys`, {
      name: "b's laptop",
      scopes: ["write"],
    });
    expect(bKey.status).toBe(201);
    const aKey = await a.c.call("POST", `/v1/workspaces/${a.ws}/keys`, { name: "a's", scopes: ["write"] });
    const bOwn = await b.c.call("POST", `/v1/workspaces/${b.ws}/keys`, {
      name: "b at home",
      scopes: ["write"],
    });
    const listed = await a.c.call("GET", `/v1/workspaces/${a.ws}/keys`);
    expect(listed.body.keys.find((k: { id: string }) => k.id === bKey.body.id).created_by).toEqual({
      user_id: b.id,
      key_id: null,
    });
    const stats = (key: string) => api(relay.url, "GET", "/v1/stats", undefined, key);
    expect((await stats(bKey.body.key)).status).toBe(200);
    const socket = await syncSocket(bKey.body.key);

    const removed = await a.c.call("DELETE", `/v1/workspaces/${a.ws}/members/${b.id}`);
    expect(removed.status).toBe(200);
    expect(removed.body.revoked_keys).toEqual([bKey.body.id]);
    const after = await stats(bKey.body.key);
    expect(after.status).toBe(401);
    expect((after.body as { error: { code: string } }).error.code).toBe("API_KEY_REVOKED");
    // Its open sync socket is closed too (4401: the key is revoked).
    expect(await socket.closed).toBe(4401);
    // The owner's key, and B's key of B's own workspace, are untouched.
    expect((await stats(aKey.body.key)).status).toBe(200);
    expect((await stats(bOwn.body.key)).status).toBe(200);
    const gone = await b.c.call("GET", `/v1/workspaces/${a.ws}/members`);
    expect(gone.status).toBe(404);
  });
});

describe("audit", () => {
  it("signup, login, invitations, member and key changes leave audit rows that name the user", async () => {
    const a = await user("audit-a");
    const b = await user("audit-b");
    await join(a.c, a.ws, b.c, "member");
    await a.c.call("PATCH", `/v1/workspaces/${a.ws}/members/${b.id}`, { role: "admin" });
    const key = await b.c.call("POST", `/v1/workspaces/${a.ws}/keys`, { scopes: ["read"] });
    await a.c.call("PATCH", `/v1/workspaces/${a.ws}`, { name: "renamed" });
    await new AccountClient(relay.url).call("POST", "/v1/auth/login", {
      email: a.email,
      password: "correct horse battery",
    });
    await a.c.call("DELETE", `/v1/workspaces/${a.ws}/members/${b.id}`);
    const rows = await asOwner<{ action: string; target: string; user_id: string | null; details: unknown }>(
      "SELECT action, target, user_id, details FROM audit_log WHERE workspace_id = $1 ORDER BY id",
      [a.ws],
    );
    const by = (action: string) => rows.filter((r) => r.action === action).map((r) => [r.user_id, r.target]);
    expect(by("user.signup")).toEqual([[a.id, a.id]]);
    expect(by("workspace.create")).toEqual([[a.id, a.ws]]);
    expect(by("invitation.create")).toHaveLength(1);
    expect(by("invitation.create")[0][0]).toBe(a.id);
    expect(by("invitation.accept")[0][0]).toBe(b.id);
    expect(by("member.role")).toEqual([[a.id, b.id]]);
    expect(by("key.create")).toEqual([[b.id, key.body.id]]);
    expect(by("workspace.rename")).toEqual([[a.id, a.ws]]);
    // Signup starts a session too: two logins.
    expect(by("user.login").map((r) => r[0])).toEqual([a.id, a.id]);
    expect(by("key.revoke")).toEqual([[a.id, key.body.id]]);
    expect(by("member.remove")).toEqual([[a.id, b.id]]);
  });
});

describe("keys", () => {
  it("`tribalmemory keys create` with an admin key still works; the key records the user and key that made it", async () => {
    const a = await user("cli-a");
    const admin = await a.c.call("POST", `/v1/workspaces/${a.ws}/keys`, { name: "admin", scopes: ["admin"] });
    const home = mkdtempSync(joinPath(tmpdir(), "tm-accounts-cli-"));
    try {
      const cli = fileURLToPath(new URL("../../cli/src/tribalmemory.ts", import.meta.url));
      const env = { ...process.env, HOME: home, TRIBAL_MEMORY_HOME: joinPath(home, ".tribal-memory") };
      delete (env as Record<string, unknown>).TRIBAL_MEMORY_CONFIG;
      // Asynchronously: the relay answering the CLI runs in this process.
      const r = await promisify(execFile)(
        process.execPath,
        [
          cli,
          "keys",
          "create",
          "--relay",
          relay.url,
          "--api-key",
          admin.body.key,
          "--name",
          "ci",
          "--scopes",
          "read",
        ],
        { env, encoding: "utf8", timeout: 60_000 },
      );
      const created = JSON.parse(r.stdout.slice(r.stdout.indexOf("{")));
      expect(created).toMatchObject({ name: "ci", scopes: ["read"] });
      expect((await api(relay.url, "GET", "/v1/stats", undefined, created.key)).status).toBe(200);
      const listed = await a.c.call("GET", `/v1/workspaces/${a.ws}/keys`);
      expect(listed.body.keys.find((k: { id: string }) => k.id === created.id).created_by).toEqual({
        user_id: a.id,
        key_id: admin.body.id,
      });
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});

describe("workspace deletion", () => {
  /** Rows of `workspaceId` in every table with a workspace_id (tombstones are kept on purpose). */
  async function rowsOf(workspaceId: string): Promise<Record<string, number>> {
    const tables = await asOwner<{ table_name: string }>(
      `SELECT c.table_name FROM information_schema.columns c JOIN information_schema.tables t
         ON t.table_schema = c.table_schema AND t.table_name = c.table_name AND t.table_type = 'BASE TABLE'
       WHERE c.table_schema = 'public' AND c.column_name = 'workspace_id' AND c.table_name NOT LIKE '%tombstones'
       ORDER BY 1`,
    );
    const counts: Record<string, number> = {};
    for (const { table_name } of tables) {
      const [row] = await asOwner<{ n: number }>(
        `SELECT count(*)::int AS n FROM "${table_name}" WHERE workspace_id = $1`,
        [workspaceId],
      );
      counts[table_name] = row.n;
    }
    const [ws] = await asOwner<{ n: number }>("SELECT count(*)::int AS n FROM workspaces WHERE id = $1", [
      workspaceId,
    ]);
    counts.workspaces = ws.n;
    return counts;
  }

  it("needs the owner's confirmation token, then removes every row of the workspace and leaves the other untouched", async () => {
    const a = await user("del-a");
    const member = await user("del-member");
    await join(a.c, a.ws, member.c, "admin");
    const other = (await a.c.call("POST", "/v1/workspaces", { name: "kept" })).body.workspace.id as string;
    const keys: Record<string, string> = {};
    for (const ws of [a.ws, other]) {
      const key = await a.c.call("POST", `/v1/workspaces/${ws}/keys`, { scopes: ["admin"] });
      keys[ws] = key.body.key;
      for (const content of ["Ada Lovelace wrote the first program", "deploy on Fridays never"]) {
        const r = await api(
          relay.url,
          "POST",
          "/v1/remember",
          { content, source_type: "user_explicit" },
          key.body.key,
        );
        expect(r.status).toBe(201);
      }
      await a.c.call("POST", `/v1/workspaces/${ws}/invitations`, { role: "viewer" });
    }
    const before = await rowsOf(a.ws);
    const otherBefore = await rowsOf(other);
    for (const t of [
      "memories",
      "changes",
      "api_keys",
      "api_key_lookup",
      "memberships",
      "invitations",
      "audit_log",
    ]) {
      expect(before[t], t).toBeGreaterThan(0);
    }
    const events: string[] = [];
    const stop = await db.listen(EVENTS_CHANNEL, (p) => events.push(p));
    const socket = await syncSocket(keys[a.ws]);
    try {
      const notOwner = await member.c.call("DELETE", `/v1/workspaces/${a.ws}`);
      expect(notOwner.status).toBe(403);
      expect(notOwner.body.error.code).toBe("ROLE_FORBIDDEN");
      const byKey = await api(relay.url, "DELETE", `/v1/workspaces/${a.ws}`, undefined, keys[a.ws]);
      expect(byKey.status).toBe(401);

      const first = await a.c.call("DELETE", `/v1/workspaces/${a.ws}`);
      expect(first.status).toBe(202);
      expect(first.body.confirmation_token).toMatch(/^[A-Za-z0-9_-]{43}$/);
      // Nothing deleted yet: only the pending request was written.
      expect(await rowsOf(a.ws)).toEqual({ ...before, workspace_deletion_requests: 1 });

      const wrong = await a.c.call("DELETE", `/v1/workspaces/${a.ws}`, {
        confirmation_token: "y".repeat(43),
      });
      expect(wrong.status).toBe(409);
      expect(wrong.body.error.code).toBe("CONFIRMATION_INVALID");
      // Another user's token does not delete it either (the member asks, then cannot confirm).
      const done = await a.c.call("DELETE", `/v1/workspaces/${a.ws}`, {
        confirmation_token: first.body.confirmation_token,
      });
      expect(done.status).toBe(200);
      expect(done.body).toMatchObject({ deleted: true, workspace_id: a.ws, revoked_keys: 1 });
      const reused = await a.c.call("DELETE", `/v1/workspaces/${a.ws}`, {
        confirmation_token: first.body.confirmation_token,
      });
      expect(reused.status).toBe(404);

      const after = await rowsOf(a.ws);
      expect(
        Object.values(after).every((n) => n === 0),
        JSON.stringify(after),
      ).toBe(true);
      expect(await rowsOf(other)).toEqual(otherBefore);
      const deadKey = await api(relay.url, "GET", "/v1/stats", undefined, keys[a.ws]);
      // The key's workspace is gone, and the relay says so (a tombstone, migration 7).
      expect(deadKey.status).toBe(410);
      expect((await api(relay.url, "GET", "/v1/stats", undefined, keys[other])).status).toBe(200);
      const list = await a.c.call("GET", "/v1/workspaces");
      expect(list.body.workspaces.map((w: { id: string }) => w.id)).toEqual([other]);
      await expect.poll(() => events.includes(`w:${a.ws}`)).toBe(true);
      // Closed by the key's revocation (4401) or the workspace's deletion (4410), whichever is first.
      expect([4401, 4410]).toContain(await socket.closed);
    } finally {
      await stop();
    }
  });
});
