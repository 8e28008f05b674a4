import { openDatabase, type RelayDatabase, type Sql } from "@tribalmemory/sync-server/store/database";
import { api, startTestRelay } from "@tribalmemory/sync-server/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { workspaceKey } from "../helpers/relay.ts";

/**
 * Recall's searches on a read replica (`readDatabaseUrl`, `relay start --read-database-url`):
 * here the "replica" is a second URL of the same PostgreSQL, told apart by its
 * application_name, so the test sees which connection each statement ran on.
 */

const adminUrl = process.env.TEST_DATABASE_URL;
const appUrl = process.env.TEST_APP_DATABASE_URL;
const REPLICA_APP = "tribal-read-replica";

function replicaUrl(url: string): string {
  const u = new URL(url);
  u.searchParams.set("application_name", REPLICA_APP);
  return u.toString();
}

describe.skipIf(!adminUrl || !appUrl)("a read replica for recall", () => {
  let db: RelayDatabase;
  /** Statements run through readTx, with the connection's application_name. */
  const onReplica: string[] = [];

  beforeAll(async () => {
    db = await openDatabase({
      databaseUrl: appUrl,
      adminDatabaseUrl: adminUrl,
      readDatabaseUrl: replicaUrl(appUrl as string),
    });
  });
  afterAll(async () => {
    await db?.close();
  });

  it("readTx runs read-only on the replica URL, scoped to the workspace; tx stays on the primary", async () => {
    const { workspaceId } = await workspaceKey(db, "replica-scope", ["admin"]);
    const probe =
      "SELECT current_setting('application_name') AS app, current_setting('transaction_read_only') AS ro, tm_workspace()::text AS ws";
    const [read] = await db.readTx(workspaceId, (sql) => sql.query(probe));
    expect(read).toEqual({ app: REPLICA_APP, ro: "on", ws: workspaceId });
    const [write] = await db.tx(workspaceId, (sql) => sql.query(probe));
    expect(write).toMatchObject({ ro: "off", ws: workspaceId });
    expect(write.app).not.toBe(REPLICA_APP);
    // A write that strays onto the replica's transaction fails instead of landing anywhere.
    await expect(
      db.readTx(workspaceId, (sql) =>
        sql.query("UPDATE workspaces SET name = 'x' WHERE id = $1", [workspaceId]),
      ),
    ).rejects.toMatchObject({ code: "25006" });
  });

  it("a recall's searches run on the replica (read-only), and the recall finds what was just written", async () => {
    const recording: RelayDatabase = {
      ...db,
      readTx: (workspaceId, fn) =>
        db.readTx(workspaceId, (sql) =>
          fn({
            query: async (text, params) => {
              const [{ app }] = await sql.query<{ app: string }>(
                "SELECT current_setting('application_name') AS app",
              );
              onReplica.push(`${app}: ${text}`);
              return sql.query(text, params);
            },
          } satisfies Sql),
        ),
    };
    const relay = await startTestRelay(recording);
    try {
      const { key } = await workspaceKey(db, "replica-recall", ["admin"]);
      const content = "The staging database password rotates every Tuesday";
      const made = await api<{ memory_id: string }>(relay.url, "POST", "/v1/remember", { content }, key);
      expect(made.status).toBe(201);
      expect(onReplica).toEqual([]);
      const found = await api<{ results: { memory: { id: string; content: string } }[] }>(
        relay.url,
        "POST",
        "/v1/recall",
        { query: "when does the staging password rotate" },
        key,
      );
      expect(found.status).toBe(200);
      expect(found.body.results[0]?.memory).toMatchObject({ id: made.body.memory_id, content });
      expect(onReplica.length).toBeGreaterThan(0);
      expect(onReplica.every((s) => s.startsWith(`${REPLICA_APP}: `))).toBe(true);
      expect(onReplica.some((s) => /FROM memories/i.test(s))).toBe(true);
    } finally {
      await relay.close();
    }
  });

  it("every connection of both pools searches HNSW with iterative scans, the pool's first one included", async () => {
    const { workspaceId } = await workspaceKey(db, "replica-settings", ["read"]);
    // Held open together, so each pool hands out several connections, its first among them.
    const probe = (sql: Sql) =>
      sql.query<{ v: string | null }>(
        "SELECT current_setting('hnsw.iterative_scan', true) AS v, pg_sleep(0.05)::text AS slept",
      );
    const settings = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        i % 2 ? db.readTx(workspaceId, probe) : db.tx(workspaceId, probe),
      ),
    );
    expect(settings.map(([row]) => row.v)).toEqual(Array(6).fill("relaxed_order"));
  });

  it("refuses a replica URL whose role skips row-level security when the app role does not", async () => {
    await expect(
      openDatabase({ databaseUrl: appUrl, adminDatabaseUrl: adminUrl, readDatabaseUrl: adminUrl }),
    ).rejects.toMatchObject({
      code: "VALIDATION_FAILED",
      message: expect.stringContaining("--read-database-url"),
    });
  });

  it("an unreachable replica fails the open with DATABASE_UNREACHABLE naming --read-database-url", async () => {
    const closed = new URL(appUrl as string);
    closed.port = "1";
    await expect(
      openDatabase({ databaseUrl: appUrl, adminDatabaseUrl: adminUrl, readDatabaseUrl: closed.toString() }),
    ).rejects.toMatchObject({
      code: "DATABASE_UNREACHABLE",
      message: expect.stringContaining("--read-database-url"),
    });
  });
});
