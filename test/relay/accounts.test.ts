import type { RelayDatabase, RunningRelay } from "@tribalmemory/sync-server";
import { startRelay } from "@tribalmemory/sync-server";
import { openTestDatabase, startTestRelay } from "@tribalmemory/sync-server/testing";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccountClient } from "../helpers/account-client.ts";

/**
 * Accounts on the relay over real HTTP (migration 5): signup and login with a password, the
 * login-session cookie and its flags, CSRF, expiry and logout, and a session acting in one
 * workspace with the scopes of the user's role. On PGlite, or on PostgreSQL as a role without
 * BYPASSRLS under `scripts/with-postgres.sh`.
 */

let db: RelayDatabase;
let relay: RunningRelay;
let seq = 0;
const email = (who: string) => `${who}-${Date.now()}-${++seq}@Example.com`;

/** A statement with the owner's rights (row-level security off), to age sessions. */
function asOwner(text: string, params: unknown[] = []) {
  if (!db.asOwner) throw new Error("the test database needs an owner connection");
  return db.asOwner((sql) => sql.query(text, params));
}

beforeAll(async () => {
  db = await openTestDatabase();
  relay = await startTestRelay(db);
});
afterAll(async () => {
  await relay?.close();
  await db?.close();
});

describe("signup and login", () => {
  it("signup creates the user (email lower-cased), a first workspace they own, and an HttpOnly SameSite session cookie", async () => {
    const c = new AccountClient(relay.url);
    const address = email("Ann");
    const res = await c.call("POST", "/v1/auth/signup", {
      email: address,
      password: "correct horse battery",
      name: "Ann",
    });
    expect(res.status).toBe(201);
    expect(res.body.user.email).toBe(address.toLowerCase());
    expect(res.body.workspace).toMatchObject({ role: "owner", name: "default" });
    const cookie = res.headers.get("set-cookie") as string;
    expect(cookie).toMatch(/^tm_session=[A-Za-z0-9_-]{43};/);
    expect(cookie).toContain("HttpOnly");
    expect(cookie).toContain("SameSite=Strict");
    expect(cookie).toContain("Path=/");
    // Plaintext on loopback: a Secure cookie would never come back.
    expect(cookie).not.toContain("Secure");

    const me = await c.call("GET", "/v1/auth/me");
    expect(me.status).toBe(200);
    expect(me.body.user).toMatchObject({ email: address.toLowerCase(), name: "Ann" });
    expect(me.body.workspaces).toEqual([
      expect.objectContaining({ id: res.body.workspace.id, role: "owner" }),
    ]);
    expect(me.body.csrf_token).toBe(res.body.csrf_token);
  });

  it("behind a TLS proxy (or with TLS) the session cookie is Secure", async () => {
    const proxied = await startRelay({
      db,
      host: "127.0.0.1",
      port: 0,
      logger: pino({ level: "silent" }),
      behindProxy: true,
    });
    try {
      const res = await new AccountClient(proxied.url).call("POST", "/v1/auth/signup", {
        email: email("secure"),
        password: "correct horse battery",
      });
      expect(res.status).toBe(201);
      expect(res.headers.get("set-cookie")).toMatch(/; HttpOnly; SameSite=Strict; .*; Secure$/);
    } finally {
      await proxied.close();
    }
  });

  it("signup with workspace: false creates no workspace", async () => {
    const c = new AccountClient(relay.url);
    const body = await c.signup(email("solo"), undefined, { workspace: false });
    expect(body.workspace).toBeNull();
    expect((await c.call("GET", "/v1/workspaces")).body.workspaces).toEqual([]);
  });

  it("refuses a short password (422) and an email already taken in another case (409 EMAIL_TAKEN)", async () => {
    const c = new AccountClient(relay.url);
    const short = await c.call("POST", "/v1/auth/signup", { email: email("short"), password: "123456789" });
    expect(short.status).toBe(422);
    expect(short.body.error.code).toBe("VALIDATION_FAILED");
    const long = await c.call("POST", "/v1/auth/signup", { email: email("long"), password: "x".repeat(257) });
    expect(long.status).toBe(422);

    const address = email("dup");
    await new AccountClient(relay.url).signup(address);
    const again = await c.call("POST", "/v1/auth/signup", {
      email: address.toUpperCase(),
      password: "another password!",
    });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe("EMAIL_TAKEN");
  });

  it("login: a wrong password and an unknown email get the same 401 INVALID_CREDENTIALS, in about the same time", async () => {
    const address = email("login");
    await new AccountClient(relay.url).signup(address, "the right password");
    const c = new AccountClient(relay.url);
    const ok = await c.call("POST", "/v1/auth/login", {
      email: address.toUpperCase(),
      password: "the right password",
    });
    expect(ok.status).toBe(200);
    expect(ok.body.workspaces).toHaveLength(1);
    expect(ok.headers.get("set-cookie")).toMatch(/^tm_session=/);

    const timed = async (body: unknown) => {
      const t = performance.now();
      const r = await new AccountClient(relay.url).call("POST", "/v1/auth/login", body);
      return { r, ms: performance.now() - t };
    };
    const wrong: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 3; i++) {
      const w = await timed({ email: address, password: "the wrong password" });
      const u = await timed({ email: email("nobody"), password: "the wrong password" });
      expect(w.r.status).toBe(401);
      expect(u.r.status).toBe(401);
      expect(u.r.body).toEqual(w.r.body);
      expect(w.r.body.error.code).toBe("INVALID_CREDENTIALS");
      wrong.push(w.ms);
      unknown.push(u.ms);
    }
    const median = (xs: number[]) => xs.sort((a, b) => a - b)[1];
    // Both pay one scrypt (tens of ms); without the dummy hash an unknown email answers in ~1 ms.
    expect(median(unknown)).toBeGreaterThan(median(wrong) * 0.5);
    expect(median(unknown)).toBeLessThan(median(wrong) * 2);
  });

  it("failed logins go through the per-address throttle: 429 AUTH_RATE_LIMITED, even for the right password", async () => {
    const throttled = await startRelay({
      db,
      host: "127.0.0.1",
      port: 0,
      logger: pino({ level: "silent" }),
      authThrottle: { limit: 3 },
    });
    try {
      const address = email("throttle");
      await new AccountClient(throttled.url).signup(address, "the right password");
      const c = new AccountClient(throttled.url);
      for (let i = 0; i < 3; i++) {
        expect(
          (await c.call("POST", "/v1/auth/login", { email: address, password: "nope nope nope" })).status,
        ).toBe(401);
      }
      const blocked = await c.call("POST", "/v1/auth/login", {
        email: address,
        password: "the right password",
      });
      expect(blocked.status).toBe(429);
      expect(blocked.body.error.code).toBe("AUTH_RATE_LIMITED");
      expect(Number(blocked.headers.get("retry-after"))).toBeGreaterThan(0);
    } finally {
      await throttled.close();
    }
  });
});

describe("the login session", () => {
  it("a non-GET request by cookie needs the session's X-CSRF-Token: 403 CSRF_TOKEN_INVALID without it or with another session's", async () => {
    const c = new AccountClient(relay.url);
    const { workspace } = await c.signup(email("csrf"));
    const other = new AccountClient(relay.url);
    await other.signup(email("csrf-other"));

    const none = await c.call("POST", "/v1/workspaces", { name: "x" }, { csrf: null });
    expect(none.status).toBe(403);
    expect(none.body.error.code).toBe("CSRF_TOKEN_INVALID");
    const foreign = await c.call("POST", "/v1/workspaces", { name: "x" }, { csrf: other.csrf });
    expect(foreign.status).toBe(403);
    expect(foreign.body.error.code).toBe("CSRF_TOKEN_INVALID");
    const remember = await c.call(
      "POST",
      "/v1/remember",
      { content: "csrf check", source_type: "user_explicit" },
      { csrf: null, workspace: workspace?.id },
    );
    expect(remember.status).toBe(403);
    expect(remember.body.error.code).toBe("CSRF_TOKEN_INVALID");
    // Nothing was written by the refused requests.
    expect((await c.call("GET", "/v1/workspaces")).body.workspaces).toHaveLength(1);

    const ok = await c.call("POST", "/v1/workspaces", { name: "second" });
    expect(ok.status).toBe(201);
    expect(ok.body.workspace).toMatchObject({ name: "second", role: "owner" });
  });

  it("logout revokes the session and clears the cookie; the old cookie then gets 401 SESSION_EXPIRED", async () => {
    const c = new AccountClient(relay.url);
    await c.signup(email("logout"));
    const oldCookie = c.cookie;
    const out = await c.call("POST", "/v1/auth/logout");
    expect(out.status).toBe(200);
    expect(out.headers.get("set-cookie")).toMatch(/^tm_session=;.*Max-Age=0/);
    expect(c.cookie).toBeNull();
    c.cookie = oldCookie;
    const me = await c.call("GET", "/v1/auth/me");
    expect(me.status).toBe(401);
    expect(me.body.error.code).toBe("SESSION_EXPIRED");
  });

  it("a session expires after its lifetime unused, and each use (a minute apart) slides its expiry", async () => {
    const c = new AccountClient(relay.url);
    const { user } = await c.signup(email("expiry"));
    await asOwner(
      "UPDATE login_sessions SET last_seen_at = now() - interval '2 minutes', expires_at = now() + interval '1 hour' WHERE user_id = $1",
      [user.id],
    );
    const slid = await c.call("GET", "/v1/auth/me");
    expect(slid.status).toBe(200);
    const left = new Date(slid.body.expires_at).getTime() - Date.now();
    expect(left).toBeGreaterThan(13.9 * 24 * 3600 * 1000);
    // The browser's cookie is renewed for as long.
    expect(slid.headers.get("set-cookie")).toMatch(/^tm_session=[A-Za-z0-9_-]{43};.*Max-Age=1209600/);

    await asOwner("UPDATE login_sessions SET expires_at = now() - interval '1 second' WHERE user_id = $1", [
      user.id,
    ]);
    const expired = await c.call("GET", "/v1/auth/me");
    expect(expired.status).toBe(401);
    expect(expired.body.error.code).toBe("SESSION_EXPIRED");
  });

  it("stores only the SHA-256 of the session token", async () => {
    const c = new AccountClient(relay.url);
    const { user } = await c.signup(email("hash"));
    const token = (c.cookie as string).split("=")[1];
    const rows = (await asOwner("SELECT token_hash FROM login_sessions WHERE user_id = $1", [user.id])) as {
      token_hash: string;
    }[];
    expect(rows).toHaveLength(1);
    expect(rows[0].token_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(rows[0].token_hash).not.toContain(token);
    const users = (await asOwner("SELECT password_hash FROM users WHERE id = $1", [user.id])) as {
      password_hash: string;
    }[];
    expect(users[0].password_hash).toMatch(/^scrypt\$32768\$8\$1\$/);
  });

  it("acts in the workspace named by X-Tribal-Workspace with its role's scopes; without it 400, in another's 404", async () => {
    const c = new AccountClient(relay.url);
    const { workspace } = await c.signup(email("scoped"));
    const ws = workspace?.id as string;
    const wrote = await c.call(
      "POST",
      "/v1/remember",
      { content: "sessions can write", source_type: "user_explicit" },
      { workspace: ws },
    );
    expect(wrote.status).toBe(201);
    const stats = await c.call("GET", "/v1/stats", undefined, { workspace: ws });
    expect(stats.status).toBe(200);
    expect(stats.body.total_memories).toBe(1);

    const noHeader = await c.call("GET", "/v1/stats");
    expect(noHeader.status).toBe(400);
    expect(noHeader.body.error.code).toBe("WORKSPACE_HEADER_REQUIRED");

    const stranger = new AccountClient(relay.url);
    await stranger.signup(email("stranger"));
    const foreign = await stranger.call("GET", "/v1/stats", undefined, { workspace: ws });
    expect(foreign.status).toBe(404);
    expect(foreign.body.error.code).toBe("WORKSPACE_NOT_FOUND");

    // The owner's session is an admin there: the key routes of the workspace work too.
    const keys = await c.call(
      "POST",
      "/v1/auth/keys",
      { name: "by session", scopes: ["read"] },
      { workspace: ws },
    );
    expect(keys.status).toBe(201);
    expect(keys.body.key).toMatch(/^tm_live_/);
  });
});
