import { openDatabase, type RelayDatabase, type RunningRelay } from "@tribalmemory/sync-server";
import { startTestRelay } from "@tribalmemory/sync-server/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccountClient } from "../helpers/account-client.ts";

/**
 * Migration 5's lookups before any scope (login by email, a session by its token, an
 * invitation by its token) are SECURITY DEFINER functions of the migrating role. With a
 * superuser that role skips row-level security; with a plain owner FORCE applies to it too, so
 * the functions must still find their one row. This runs the relay on a database migrated by a
 * NOSUPERUSER owner, the app connecting as another role. Needs `scripts/with-postgres.sh`.
 */
const admin = process.env.TEST_DATABASE_URL;
const app = process.env.TEST_APP_DATABASE_URL;
const DB = `tribal_owner_${process.pid}`;

function withUserAndDb(url: string, user: string, database: string): string {
  const u = new URL(url);
  u.username = user;
  u.password = "";
  u.pathname = `/${database}`;
  return u.toString();
}

async function superuser(text: string): Promise<void> {
  // The test cluster's own database, migrated as usual (a start without migrations refuses an empty one).
  const db = await openDatabase({ databaseUrl: admin });
  try {
    await db.statement(text);
  } finally {
    await db.close();
  }
}

describe.skipIf(!admin || !app)("accounts on a database migrated by a plain owner (PostgreSQL)", () => {
  let db: RelayDatabase;
  let relay: RunningRelay;

  beforeAll(async () => {
    await superuser(`DO $$ BEGIN
      IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tribal_owner') THEN
        CREATE ROLE tribal_owner LOGIN NOSUPERUSER NOBYPASSRLS;
      END IF; END $$`);
    await superuser(`CREATE DATABASE ${DB} OWNER tribal_owner TEMPLATE template1`);
    await superuser(`GRANT CONNECT ON DATABASE ${DB} TO tribal_app`);
    db = await openDatabase({
      databaseUrl: withUserAndDb(app as string, "tribal_app", DB),
      adminDatabaseUrl: withUserAndDb(admin as string, "tribal_owner", DB),
    });
    relay = await startTestRelay(db);
  });

  afterAll(async () => {
    await relay?.close();
    await db?.close();
    await superuser(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`).catch(() => undefined);
  });

  it("signup, login, a session's requests and an invitation work, and the owner is no superuser", async () => {
    const [role] = await (db.asOwner as NonNullable<RelayDatabase["asOwner"]>)((sql) =>
      sql.query<{ rolsuper: boolean }>("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"),
    );
    expect(role.rolsuper).toBe(false);

    const a = new AccountClient(relay.url);
    const { workspace } = await a.signup("owner-role-a@example.com", "correct horse battery");
    const login = await new AccountClient(relay.url).call("POST", "/v1/auth/login", {
      email: "owner-role-a@example.com",
      password: "correct horse battery",
    });
    expect(login.status).toBe(200);
    const wrong = await new AccountClient(relay.url).call("POST", "/v1/auth/login", {
      email: "owner-role-a@example.com",
      password: "not the password",
    });
    expect(wrong.status).toBe(401);

    expect((await a.call("GET", "/v1/auth/me")).status).toBe(200);
    const wrote = await a.call(
      "POST",
      "/v1/remember",
      { content: "owner role check", source_type: "user_explicit" },
      { workspace: workspace?.id },
    );
    expect(wrote.status).toBe(201);

    const b = new AccountClient(relay.url);
    await b.signup("owner-role-b@example.com");
    const inv = await a.call("POST", `/v1/workspaces/${workspace?.id}/invitations`, { role: "viewer" });
    const accepted = await b.call("POST", "/v1/invitations/accept", { token: inv.body.token });
    expect(accepted.status).toBe(200);
    expect(accepted.body.role).toBe("viewer");
  });
});
