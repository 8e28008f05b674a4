import { spawn } from "node:child_process";
import { Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import { createApiKey, createWorkspace, openDatabase, startRelay } from "@tribalmemory/sync-server";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/**
 * Finding 5: connected as a superuser or a BYPASSRLS role, PostgreSQL skips row-level security
 * without a word, so every key reads every workspace. The relay refuses to start so, unless
 * told to (`--allow-rls-bypass`), and then says it loudly. Needs the test cluster
 * (`scripts/with-postgres.sh`): TEST_DATABASE_URL is a superuser, TEST_APP_DATABASE_URL is not.
 */
const admin = process.env.TEST_DATABASE_URL;
const app = process.env.TEST_APP_DATABASE_URL;
const CLI = fileURLToPath(new URL("../../cli/src/tribalmemory.ts", import.meta.url));
const silent = pino({ level: "silent" });

/**
 * Statements as the cluster's superuser, one transaction each. Opening migrates: without
 * migrations the relay refuses a schema older than its build (SCHEMA_OUTDATED), and this test
 * may be the first on an empty database.
 */
async function superuser() {
  const db = await openDatabase({ databaseUrl: admin });
  return {
    query: (text: string) => db.tx(null, (sql) => sql.query(text)),
    end: () => db.close(),
  };
}

function withUser(url: string, user: string, password: string): string {
  const u = new URL(url);
  u.username = user;
  u.password = password;
  return u.toString();
}

describe.skipIf(!admin || !app)("relay database role (PostgreSQL)", () => {
  let bypassUrl: string;

  beforeAll(async () => {
    const c = await superuser();
    await c.query(`DO $$ BEGIN
      IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tribal_bypass') THEN
        CREATE ROLE tribal_bypass LOGIN BYPASSRLS NOSUPERUSER PASSWORD 'bypass';
      END IF; END $$`);
    await c.query("GRANT USAGE ON SCHEMA public TO tribal_bypass");
    await c.query("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO tribal_bypass");
    await c.query("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO tribal_bypass");
    await c.end();
    bypassUrl = withUser(app as string, "tribal_bypass", "bypass");
  });

  afterAll(async () => {
    const c = await superuser();
    await c.query("REASSIGN OWNED BY tribal_bypass TO CURRENT_USER").catch(() => undefined);
    await c.query("DROP OWNED BY tribal_bypass").catch(() => undefined);
    await c.query("DROP ROLE IF EXISTS tribal_bypass").catch(() => undefined);
    await c.end();
  });

  it("refuses to start as a superuser with RLS_BYPASS_ROLE", async () => {
    await expect(
      startRelay({ databaseUrl: admin, host: "127.0.0.1", port: 0, logger: silent }),
    ).rejects.toMatchObject({ code: "RLS_BYPASS_ROLE", message: expect.stringContaining("superuser") });
  });

  it("refuses to start as a BYPASSRLS role", async () => {
    await expect(
      startRelay({
        databaseUrl: bypassUrl,
        adminDatabaseUrl: admin,
        host: "127.0.0.1",
        port: 0,
        logger: silent,
      }),
    ).rejects.toMatchObject({ code: "RLS_BYPASS_ROLE", message: expect.stringContaining("BYPASSRLS") });
  });

  it("starts with --allow-rls-bypass, with a loud warning in the log", async () => {
    const lines: Record<string, unknown>[] = [];
    const stream = new Writable({
      write(chunk, _e, cb) {
        for (const l of chunk.toString().split("\n").filter(Boolean)) lines.push(JSON.parse(l));
        cb();
      },
    });
    const relay = await startRelay({
      databaseUrl: admin,
      host: "127.0.0.1",
      port: 0,
      allowRlsBypass: true,
      logger: pino({ level: "info" }, stream),
    });
    await relay.close();
    const warning = lines.find((l) => l.level === 40 && String(l.msg).includes("ROW-LEVEL SECURITY IS OFF"));
    expect(warning).toMatchObject({ superuser: true });
  });

  it("starts as the app role (no SUPERUSER, no BYPASSRLS), and so does embedded PGlite", async () => {
    const relay = await startRelay({
      databaseUrl: app,
      adminDatabaseUrl: admin,
      host: "127.0.0.1",
      port: 0,
      logger: silent,
    });
    await relay.close();
    const embedded = await startRelay({ host: "127.0.0.1", port: 0, logger: silent });
    await embedded.close();
  });

  it("`relay start` as the superuser exits non-zero with one line naming RLS_BYPASS_ROLE", async () => {
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const p = spawn(
        process.execPath,
        [CLI, "relay", "start", "--database-url", admin as string, "--port", "0", "--embedding", "none"],
        { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, TRIBAL_MEMORY_LOG_LEVEL: "warn" } },
      );
      let stderr = "";
      p.stderr.on("data", (d) => (stderr += d));
      p.on("exit", (code) => resolve({ code, stderr }));
    });
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toMatch(/^tribalmemory relay: RLS_BYPASS_ROLE: /);
  }, 60_000);

  it("relay init --email twice on PostgreSQL gives the existing user a second workspace", async () => {
    const db = await openDatabase({ databaseUrl: app, adminDatabaseUrl: admin });
    try {
      const email = `owner-${Date.now()}@example.com`;
      const a = await createWorkspace(db, { name: "one", userEmail: email });
      const b = await createWorkspace(db, { name: "two", userEmail: email });
      expect(b.userId).toBe(a.userId);
      expect(b.existingUser).toBe(true);
      expect(b.workspaceId).not.toBe(a.workspaceId);
      await createApiKey(db, b.workspaceId, { name: "k", scopes: ["admin"], userId: b.userId });
    } finally {
      await db.close();
    }
    // With only the app role's connection the user cannot be looked up: a coded refusal.
    const appOnly = await openDatabase({ databaseUrl: app, adminDatabaseUrl: admin });
    const noOwner = { ...appOnly, asOwner: undefined, tx: appOnly.tx.bind(appOnly) };
    const email = `solo-${Date.now()}@example.com`;
    await createWorkspace(noOwner, { name: "one", userEmail: email });
    await expect(createWorkspace(noOwner, { name: "two", userEmail: email })).rejects.toMatchObject({
      code: "CONFLICT",
    });
    await appOnly.close();
  });
});
