import { connect } from "node:net";
import { type RelayDatabase, type RunningRelay, startRelay } from "@tribalmemory/sync-server";
import { MIGRATION_VERSIONS } from "@tribalmemory/sync-server/store/migrations";
import { api } from "@tribalmemory/sync-server/testing";
import pino from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { type ChaosPostgres, postgresAvailable, startChaosPostgres } from "../chaos/postgres.ts";
import { useTestRelay, workspaceKey } from "../helpers/relay.ts";
import { waitFor } from "../sync/harness.ts";

/**
 * Liveness (`/v1/health`) and readiness (`/v1/ready`) of the relay: public, naming no
 * workspace; readiness follows the database's schema and the relay's own shutdown.
 */
describe("relay liveness and readiness", () => {
  let db: RelayDatabase;
  let relay: RunningRelay;
  let key: string;
  let workspaceId: string;

  useTestRelay(async (d, r) => {
    db = d;
    relay = r;
    ({ workspaceId, key } = await workspaceKey(db, "health", ["read"]));
  });

  it("GET /v1/health answers without a key, with status, version and uptime only", async () => {
    const res = await api(relay.url, "GET", "/v1/health");
    expect(res.status).toBe(200);
    expect(Object.keys(res.body).sort()).toEqual(["relay", "status", "uptime_s", "version"]);
    expect(res.body).toMatchObject({ status: "ok", relay: true, version: "0.1.0" });
    expect(typeof res.body.uptime_s).toBe("number");
    // A key does not change it: health names no workspace, whoever asks.
    expect((await api(relay.url, "GET", "/v1/health", undefined, key)).body).not.toHaveProperty(
      "workspace_id",
    );
  });

  it("GET /v1/workspace names the key's workspace, and needs the key", async () => {
    const res = await api(relay.url, "GET", "/v1/workspace", undefined, key);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      relay: true,
      version: "0.1.0",
      workspace_id: workspaceId,
      scopes: ["read"],
      protocol: "http",
    });
    const anonymous = await api<{ error: { code: string } }>(relay.url, "GET", "/v1/workspace");
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.error.code).toBe("UNAUTHENTICATED");
  });

  it("GET /v1/ready is 200 with every migration of this build applied, without a key", async () => {
    const res = await api(relay.url, "GET", "/v1/ready");
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: "ready", version: "0.1.0" });
  });

  it("a schema that lacks a migration of this build answers 503 NOT_READY naming it, then 200 once applied", async () => {
    // The owner removes the newest version's row: to this build the schema is outdated.
    const newest = Math.max(...MIGRATION_VERSIONS);
    const owner = db.asOwner;
    if (!owner) throw new Error("the test database has no owner connection");
    const [row] = await owner((sql) =>
      sql.query<{ at: string }>("DELETE FROM schema_migrations WHERE version = $1 RETURNING at", [newest]),
    );
    try {
      const res = await api<{ error: { code: string; details: Record<string, unknown> } }>(
        relay.url,
        "GET",
        "/v1/ready",
      );
      expect(res.status).toBe(503);
      expect(res.body.error.code).toBe("NOT_READY");
      expect(res.body.error.details).toEqual({
        reasons: [`schema outdated: migrations ${newest} of this build are not applied`],
        missing_migrations: [newest],
      });
      // Liveness does not follow: restarting the process would not apply the migration.
      expect((await api(relay.url, "GET", "/v1/health")).status).toBe(200);
    } finally {
      await owner((sql) =>
        sql.query("INSERT INTO schema_migrations (version, at) VALUES ($1, $2)", [newest, row.at]),
      );
    }
    expect((await api(relay.url, "GET", "/v1/ready")).status).toBe(200);
  });
});

describe("readiness while the relay drains", () => {
  let db: RelayDatabase;
  let relay: RunningRelay;
  let key: string;
  let workspaceId: string;

  useTestRelay(async (d, r) => {
    db = d;
    relay = r;
    ({ workspaceId, key } = await workspaceKey(db, "drain", ["write"]));
  });

  it("close(): the request in flight is answered 201, the next on its connection gets 503 NOT_READY, new connections are refused", async () => {
    // One kept-alive connection with a remember whose body has not fully arrived: in flight.
    const socket = connect(relay.port, "127.0.0.1");
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    let received = "";
    socket.on("data", (d: Buffer) => {
      received += d.toString();
    });
    const ended = new Promise<void>((resolve) => socket.once("close", () => resolve()));
    const body = JSON.stringify({ content: "written while the relay drains" });
    socket.write(
      `POST /v1/remember HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${key}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 10)}`,
    );
    await new Promise((r) => setTimeout(r, 200));

    const closed = relay.close();
    await new Promise((r) => setTimeout(r, 100));
    // The listener is closed: a load balancer's new connection is refused.
    await expect(
      new Promise((resolve, reject) => {
        const probe = connect(relay.port, "127.0.0.1");
        probe.once("connect", () => {
          probe.destroy();
          resolve("connected");
        });
        probe.once("error", reject);
      }),
    ).rejects.toMatchObject({ code: "ECONNREFUSED" });

    // The rest of the body, and a readiness probe pipelined behind it on the same connection.
    socket.write(`${body.slice(10)}GET /v1/ready HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    await ended;
    await closed;
    const responses = received.split(/(?=HTTP\/1\.1 )/);
    expect(responses).toHaveLength(2);
    expect(responses[0]).toMatch(/^HTTP\/1\.1 201 /);
    expect(responses[0]).toContain('"success":true');
    expect(responses[1]).toMatch(/^HTTP\/1\.1 503 /);
    expect(responses[1].toLowerCase()).toContain("connection: close");
    const ready = JSON.parse(responses[1].slice(responses[1].indexOf("\r\n\r\n") + 4)) as {
      error: { code: string; details: { reasons: string[] } };
    };
    expect(ready.error.code).toBe("NOT_READY");
    expect(ready.error.details.reasons).toEqual([
      "shutting down: finishing in-flight requests and sync pushes",
    ]);
    // The acknowledged write is in the database.
    const [{ n }] = await db.tx(workspaceId, (sql) =>
      sql.query<{ n: number }>("SELECT count(*)::int AS n FROM memories WHERE content = $1", [
        "written while the relay drains",
      ]),
    );
    expect(n).toBe(1);
  });
});

// A Postgres server of the test's own, so it can be stopped under the relay and started again.
describe.skipIf(Boolean(postgresAvailable()))("readiness through a database outage", () => {
  let pg: ChaosPostgres | null = null;
  let relay: RunningRelay | null = null;
  afterAll(async () => {
    await relay?.close();
    pg?.stop();
  });

  it("a relay whose database is stopped answers 503 NOT_READY (health stays 200), then 200 once it is back", async () => {
    pg = await startChaosPostgres();
    relay = await startRelay({
      databaseUrl: pg.appUrl,
      adminDatabaseUrl: pg.adminUrl,
      host: "127.0.0.1",
      port: 0,
      logger: pino({ level: "silent" }),
    });
    const url = relay.url;
    expect((await api(url, "GET", "/v1/ready")).status).toBe(200);

    await pg.halt();
    const down = await api<{ error: { code: string; details: { reasons: string[] } } }>(
      url,
      "GET",
      "/v1/ready",
    );
    expect(down.status).toBe(503);
    expect(down.body.error.code).toBe("NOT_READY");
    expect(down.body.error.details.reasons).toHaveLength(1);
    expect(down.body.error.details.reasons[0]).toMatch(/^database unreachable: /);
    expect((await api(url, "GET", "/v1/health")).status).toBe(200);

    await pg.resume();
    await waitFor(
      "ready again",
      async () => (await api(url, "GET", "/v1/ready")).status === 200,
      20_000,
      200,
    );
  }, 120_000);
});
