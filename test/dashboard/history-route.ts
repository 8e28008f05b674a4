import { THIS_DEVICE } from "@tribalmemory/daemon/http/app";
import { HistoryResponse } from "@tribalmemory/shared/http/response-schemas";
import { RELAY_API_DEVICE } from "@tribalmemory/sync-server/http/workspace-api";
import { api } from "@tribalmemory/sync-server/testing";
import { describe, expect, it } from "vitest";
import { AccountClient } from "../helpers/account-client.ts";
import { until } from "./browser.ts";
import type { DashboardEnv } from "./env.ts";

/**
 * `GET /v1/memories/:id/history` on both servers (one route, shared/src/http/memory-routes.ts):
 * the memory's changes from its Automerge document, a correction naming what it supersedes and
 * the original marked superseded; another workspace's memory is not found.
 */

let seq = 0;

/** A fresh relay user's workspace and an API key of it. */
async function relayKey(env: DashboardEnv): Promise<string> {
  const c = new AccountClient(env.relay.url);
  const { workspace } = await c.signup(`history-${Date.now()}-${++seq}@example.com`);
  const key = await c.call("POST", `/v1/workspaces/${workspace?.id}/keys`, { name: "t" });
  expect(key.status).toBe(201);
  return key.body.key as string;
}

// biome-ignore lint/suspicious/noExplicitAny: tests read response bodies loosely
type Call = (method: string, path: string, body?: unknown) => Promise<{ status: number; body: any }>;

/** `ownDevice`: how the server names the actor that wrote for its own HTTP API. */
async function checkHistory(call: Call, ownDevice: string) {
  const made = await call("POST", "/v1/remember", {
    content: "The billing-service uses MySQL",
    tags: ["infra"],
    source_instance: "claude-code@laptop",
  });
  expect(made.status).toBe(201);
  const id = made.body.memory_id as string;
  const fixed = await call("POST", "/v1/correct", {
    original_id: id,
    corrected_content: "The billing-service uses Postgres 16",
    source_instance: "codex@desktop",
  });
  expect(fixed.status).toBe(201);
  const correctionId = fixed.body.memory_id as string;

  const original = await call("GET", `/v1/memories/${id}/history`);
  expect(original.status).toBe(200);
  const parsed = HistoryResponse.parse(original.body);
  expect(parsed).toMatchObject({
    memory_id: id,
    supersedes: null,
    superseded: true,
    superseded_by: [correctionId],
  });
  expect(parsed.history).toHaveLength(1);
  expect(parsed.history[0]).toMatchObject({
    kind: "created",
    agent: "claude-code@laptop",
    seq: 1,
    device: ownDevice,
  });
  expect(parsed.history[0].changes).toContainEqual({
    field: "content",
    from: null,
    to: "The billing-service uses MySQL",
  });

  const correction = HistoryResponse.parse((await call("GET", `/v1/memories/${correctionId}/history`)).body);
  expect(correction).toMatchObject({
    memory_id: correctionId,
    supersedes: id,
    superseded: false,
    superseded_by: [],
  });
  expect(correction.history[0].agent).toBe("codex@desktop");
  expect(correction.history[0].changes).toContainEqual({ field: "supersedes", from: null, to: id });

  expect((await call("DELETE", `/v1/memories/${correctionId}`)).status).toBe(200);
  const after = HistoryResponse.parse((await call("GET", `/v1/memories/${correctionId}/history`)).body);
  expect(after.history.map((h) => h.kind)).toEqual(["created", "forgotten"]);
  expect(after.history[1].changes).toEqual([{ field: "deleted", from: false, to: true }]);
  expect(after.history[1].at).not.toBeNull();
  // Its correction forgotten, the original is no longer superseded by anything.
  const restored = HistoryResponse.parse((await call("GET", `/v1/memories/${id}/history`)).body);
  expect([restored.superseded, restored.superseded_by]).toEqual([false, []]);

  const missing = await call("GET", "/v1/memories/0199d4a0-0000-7000-8000-00000000dead/history");
  expect(missing.status).toBe(404);
  expect(missing.body.error.code).toBe("MEMORY_NOT_FOUND");
  const bad = await call("GET", "/v1/memories/not-an-id/history");
  expect(bad.status).toBe(422);
  expect(bad.body.error.code).toBe("VALIDATION_FAILED");
  return id;
}

export function historyRouteTests(env: DashboardEnv): void {
  describe("memory history", () => {
    it("the daemon answers a memory's changes, its correction and its forgetting", async () => {
      await checkHistory(async (method, path, body) => {
        const r =
          method === "GET"
            ? await env.daemon.api.get(path)
            : method === "DELETE"
              ? await env.daemon.api.del(path)
              : await env.daemon.api.post(path, body);
        return r;
      }, THIS_DEVICE);
    });

    it("the relay answers the same, and not for another workspace's key", async () => {
      const key = await relayKey(env);
      const id = await checkHistory(
        (method, path, body) => api(env.relay.url, method, path, body, key),
        RELAY_API_DEVICE,
      );
      const stranger = await relayKey(env);
      const other = await api<{ error: { code: string } }>(
        env.relay.url,
        "GET",
        `/v1/memories/${id}/history`,
        undefined,
        stranger,
      );
      expect(other.status).toBe(404);
      expect(other.body.error.code).toBe("MEMORY_NOT_FOUND");
    });

    it("the relay names the sync device that wrote a change (its devices table), not only its actor", async () => {
      const made = await env.daemon.api.post("/v1/remember", {
        content: "Releases are cut from the main branch",
        source_instance: "claude-code@laptop",
      });
      expect(made.status).toBe(201);
      const id = made.body.memory_id as string;
      const daemonActor = HistoryResponse.parse((await env.daemon.api.get(`/v1/memories/${id}/history`)).body)
        .history[0].actor;
      await until(async () => (await env.daemon.api.get("/v1/sync/status")).body.outbox === 0);
      const ws = await api<{ workspace_id: string }>(
        env.relay.url,
        "GET",
        "/v1/workspace",
        undefined,
        env.daemonKey,
      );
      const device = await env.db.tx(ws.body.workspace_id, async (sql) => {
        const [row] = await sql.query<{ device_id: string }>(
          "SELECT device_id FROM devices WHERE actor = $1",
          [daemonActor],
        );
        return row?.device_id;
      });
      expect(device).toBeTruthy();
      const atRelay = await api(env.relay.url, "GET", `/v1/memories/${id}/history`, undefined, env.daemonKey);
      expect(atRelay.status).toBe(200);
      const history = HistoryResponse.parse(atRelay.body).history;
      expect(history.map((h) => [h.actor, h.device])).toEqual([[daemonActor, device]]);
    });
  });
}
