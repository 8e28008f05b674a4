import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import {
  createApiKey,
  createWorkspace,
  type RelayDatabase,
  type RunningRelay,
  startRelay,
} from "@tribalmemory/sync-server";
import { api, startTestRelay } from "@tribalmemory/sync-server/testing";
import { describe, expect, it } from "vitest";
import WebSocket from "ws";
import { AccountClient } from "../helpers/account-client.ts";
import { useTestRelay } from "../helpers/relay.ts";

const CLI = fileURLToPath(new URL("../../cli/src/tribalmemory.ts", import.meta.url));

/** A WebSocket upgrade's outcome: "open", or the HTTP status and body of the refusal. */
function upgrade(url: string, key: string): Promise<{ status: number | "open"; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url.replace("http", "ws")}/v1/sync`, {
      headers: { authorization: `Bearer ${key}` },
    });
    ws.on("open", () => {
      ws.close();
      resolve({ status: "open", body: "" });
    });
    ws.on("unexpected-response", (_req, res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.on("error", reject);
  });
}

/**
 * Regions (migration 7): a workspace's region is set when it is made; a relay started with
 * `regions` serves only workspaces of those regions and tells the others where to go (421
 * WRONG_REGION with `details.region`), for requests and sync sockets alike.
 */
describe("relay regions", () => {
  let db: RelayDatabase;
  let relay: RunningRelay;
  let eu: { id: string; key: string };
  let us: { id: string; key: string };
  let plain: { id: string; key: string };

  const workspace = async (region?: string) => {
    const w = await createWorkspace(db, { name: `ws-${region ?? "none"}`, region });
    return {
      id: w.workspaceId,
      key: (await createApiKey(db, w.workspaceId, { name: "k", scopes: ["admin"] })).key,
    };
  };

  useTestRelay(
    async (d, r) => {
      db = d;
      relay = r;
      eu = await workspace("eu");
      us = await workspace("us");
      plain = await workspace();
    },
    { regions: ["eu"] },
  );

  it("serves its region's workspaces and refuses others' requests with 421 WRONG_REGION and their region", async () => {
    expect(
      (await api(relay.url, "POST", "/v1/remember", { content: "EU data stays in the EU" }, eu.key)).status,
    ).toBe(201);
    for (const [w, region] of [
      [us, "us"],
      [plain, "default"],
    ] as const) {
      for (const [method, path, body] of [
        ["GET", "/v1/memories?limit=1", undefined],
        ["POST", "/v1/recall", { query: "data" }],
        ["POST", "/v1/remember", { content: "should not land here" }],
      ] as const) {
        const res = await api<{ error: { code: string; details: Record<string, unknown> } }>(
          relay.url,
          method,
          path,
          body,
          w.key,
        );
        expect(res.status, `${region} ${method} ${path}`).toBe(421);
        expect(res.body.error).toMatchObject({ code: "WRONG_REGION", details: { region, served: ["eu"] } });
      }
    }
    const [count] = await db.tx(us.id, (sql) =>
      sql.query<{ n: number }>("SELECT count(*)::int AS n FROM memories"),
    );
    expect(count.n).toBe(0);
  });

  it("refuses the sync socket of another region's workspace at the upgrade", async () => {
    expect((await upgrade(relay.url, eu.key)).status).toBe("open");
    const refused = await upgrade(relay.url, us.key);
    expect(refused.status).toBe(421);
    expect(JSON.parse(refused.body).error).toMatchObject({ code: "WRONG_REGION", details: { region: "us" } });
  });

  it("looks a workspace's region up once per process, not per request", async () => {
    const texts: string[] = [];
    const { tx } = db;
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
      for (let i = 0; i < 3; i++) {
        expect((await api(relay.url, "GET", "/v1/memories?limit=1", undefined, us.key)).status).toBe(421);
        expect((await api(relay.url, "GET", "/v1/memories?limit=1", undefined, eu.key)).status).toBe(200);
      }
    } finally {
      db.tx = tx;
    }
    expect(texts.filter((t) => t.includes("SELECT region FROM workspaces"))).toEqual([]);
  });

  it("creates a workspace only in a region it serves (POST /v1/workspaces {region})", async () => {
    // Accounts on a relay serving every region; the region is kept with the workspace.
    const open = await startTestRelay(db);
    try {
      const c = new AccountClient(open.url);
      await c.signup(`regions-${Date.now()}@example.com`);
      const made = await c.call("POST", "/v1/workspaces", { name: "eu team", region: "eu" });
      expect(made.status).toBe(201);
      const [row] = await db.tx(made.body.workspace.id, (sql) =>
        sql.query<{ region: string }>("SELECT region FROM workspaces WHERE id = $1", [
          made.body.workspace.id,
        ]),
      );
      expect(row.region).toBe("eu");
      const bad = await c.call("POST", "/v1/workspaces", { name: "x", region: "EU West" });
      expect(bad.status).toBe(422);

      // The same account through the EU relay: a US workspace is refused, an EU one made.
      const viaEu = new AccountClient(relay.url);
      viaEu.cookie = c.cookie;
      viaEu.csrf = c.csrf;
      const refused = await viaEu.call("POST", "/v1/workspaces", { name: "us team", region: "us" });
      expect(refused.status).toBe(421);
      expect(refused.body.error).toMatchObject({ code: "WRONG_REGION", details: { region: "us" } });
      expect((await viaEu.call("POST", "/v1/workspaces", { name: "eu 2", region: "eu" })).status).toBe(201);
    } finally {
      await open.close();
    }
  });

  it("refuses to start with a region name that is not one", async () => {
    await expect(startRelay({ db, port: 0, regions: ["eu", "US West"] })).rejects.toMatchObject({
      code: "VALIDATION_FAILED",
    });
  });

  it("relay init --region makes the workspace in that region", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tm-region-"));
    try {
      const { stdout } = await promisify(execFile)(process.execPath, [
        CLI,
        "relay",
        "init",
        "--data-dir",
        join(dir, "relay"),
        "--region",
        "eu",
      ]);
      expect(JSON.parse(stdout.slice(0, stdout.indexOf("}") + 1))).toMatchObject({ region: "eu" });
      const bad = await promisify(execFile)(process.execPath, [
        CLI,
        "relay",
        "init",
        "--data-dir",
        join(dir, "r2"),
        "--region",
        "Eu!",
      ]).catch((err: { code: number; stderr: string }) => err);
      expect((bad as { code: number }).code).toBe(1);
      expect((bad as { stderr: string }).stderr).toContain("VALIDATION_FAILED");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
