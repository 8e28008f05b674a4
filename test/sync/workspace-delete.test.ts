import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import {
  createApiKey,
  createWorkspace,
  type RelayDatabase,
  type RunningRelay,
} from "@tribalmemory/sync-server";
import { deleteWorkspace } from "@tribalmemory/sync-server/store/pg-workspaces";
import { openTestDatabase, startTestRelay } from "@tribalmemory/sync-server/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { allSynced, api, type DaemonProcess, startDaemonProcess, tempDir, waitFor } from "./harness.ts";

/** Every file under `dir` whose bytes contain `marker` (the purge tests' check). */
function filesHolding(dir: string, marker: string): string[] {
  const needle = Buffer.from(marker, "utf8");
  const hits: string[] = [];
  const walk = (path: string) => {
    for (const name of readdirSync(path)) {
      const full = join(path, name);
      try {
        const st = statSync(full);
        if (st.isDirectory()) walk(full);
        else if (st.isFile() && readFileSync(full).includes(needle)) hits.push(full);
      } catch {
        // removed while walking
      }
    }
  };
  walk(dir);
  return hits;
}

type Status = { state: string; last_error: { code: string; message: string } | null };

/**
 * Deleting a workspace reaches every daemon of it: one connected at the time hears
 * `workspace_deleted` on its socket, one offline hears WORKSPACE_DELETED (410) when it comes
 * back; both purge every memory synced with the workspace, files included, and stop syncing.
 * A daemon of another workspace keeps its own.
 */
describe("workspace deletion reaches every daemon", () => {
  const dir = tempDir("tm-wsdel-");
  let db: RelayDatabase;
  let relay: RunningRelay;
  let doomed: { id: string; owner: string; key: string };
  let kept: { id: string; key: string };
  let a: DaemonProcess;
  let b: DaemonProcess;
  let c: DaemonProcess;
  const tag = randomBytes(6).toString("hex");
  const markers = { a: `alpha-${tag}`, b: `bravo-${tag}`, relay: `relay-${tag}`, c: `charlie-${tag}` };
  const ids: Record<string, string> = {};

  const status = async (d: DaemonProcess) => (await d.call<Status>("GET", "/v1/sync/status")).body;
  const holds = async (d: DaemonProcess, id: string) =>
    (await d.call("GET", `/v1/memories/${id}`)).status === 200;

  beforeAll(async () => {
    db = await openTestDatabase();
    relay = await startTestRelay(db);
    const w1 = await createWorkspace(db, { name: "doomed" });
    doomed = {
      id: w1.workspaceId,
      owner: w1.userId,
      key: (await createApiKey(db, w1.workspaceId, { name: "k", scopes: ["admin"], userId: w1.userId })).key,
    };
    const w2 = await createWorkspace(db, { name: "kept" });
    kept = {
      id: w2.workspaceId,
      key: (await createApiKey(db, w2.workspaceId, { name: "k", scopes: ["admin"] })).key,
    };
    [a, b, c] = await Promise.all([
      startDaemonProcess({
        home: `${dir.path}/a`,
        relayUrl: relay.url,
        apiKey: doomed.key,
        instance: "agent@a",
      }),
      startDaemonProcess({
        home: `${dir.path}/b`,
        relayUrl: relay.url,
        apiKey: doomed.key,
        instance: "agent@b",
      }),
      startDaemonProcess({
        home: `${dir.path}/c`,
        relayUrl: relay.url,
        apiKey: kept.key,
        instance: "agent@c",
      }),
    ]);
  }, 120_000);

  afterAll(async () => {
    await Promise.all([a?.kill(), b?.kill(), c?.kill()]);
    await relay?.close();
    await db?.close();
    dir.remove();
  });

  it("both daemons purge the workspace's memories (no byte left in their files) and stop; another workspace's daemon keeps its own", async () => {
    const remember = async (d: DaemonProcess, content: string) =>
      (await d.call<{ memory_id: string }>("POST", "/v1/remember", { content })).body.memory_id;
    ids.a = await remember(a, `Note from A: ${markers.a}`);
    ids.b = await remember(b, `Note from B: ${markers.b}`);
    ids.c = await remember(c, `Note from C: ${markers.c}`);
    ids.relay = (
      await api<{ memory_id: string }>(
        relay.url,
        "POST",
        "/v1/remember",
        { content: `Cloud note: ${markers.relay}` },
        doomed.key,
      )
    ).body.memory_id;
    const shared = [ids.a, ids.b, ids.relay];
    await waitFor(
      "A and B to hold every memory of the workspace",
      async () =>
        (await allSynced([a, b, c])) &&
        (await Promise.all([a, b].flatMap((d) => shared.map((id) => holds(d, id))))).every(Boolean),
      60_000,
    );
    for (const d of [a, b])
      expect(filesHolding(join(d.home, "data"), markers.relay).length).toBeGreaterThan(0);

    // B is offline while the workspace goes; A is connected, and so is a bare socket that
    // records what the relay says.
    await b.kill();
    const socket = new WebSocket(`${relay.url.replace("http", "ws")}/v1/sync`, {
      headers: { authorization: `Bearer ${doomed.key}` },
    });
    const heard: { type: string; [k: string]: unknown }[] = [];
    socket.on("message", (m) => heard.push(JSON.parse(m.toString())));
    const closed = new Promise<number>((resolve) => socket.on("close", (code) => resolve(code)));
    await new Promise((resolve) => socket.on("open", resolve));
    socket.send(JSON.stringify({ type: "hello", protocol: 1, device: "probe", actor: "abc123", cursor: 0 }));
    await waitFor("welcome", async () => heard.some((m) => m.type === "welcome"));
    const { deletedKeyIds } = await deleteWorkspace(db, doomed.id, doomed.owner);
    expect(deletedKeyIds).toHaveLength(1);
    expect(await closed).toBe(4410);
    expect(heard.at(-1)).toMatchObject({ type: "workspace_deleted", workspace_id: doomed.id });

    const deleted = await waitFor(
      "A to stop with workspace_deleted",
      async () => {
        const s = await status(a);
        return s.state === "workspace_deleted" ? s : null;
      },
      30_000,
    );
    expect(deleted.last_error?.code).toBe("WORKSPACE_DELETED");
    for (const id of shared) expect(await holds(a, id)).toBe(false);

    // B comes back: the relay answers its key with 410 WORKSPACE_DELETED, and it purges too.
    b = await startDaemonProcess({
      home: b.home,
      relayUrl: relay.url,
      apiKey: doomed.key,
      instance: "agent@b",
    });
    const bStatus = await waitFor(
      "B to learn the workspace is gone",
      async () => {
        const s = await status(b);
        return s.state === "workspace_deleted" ? s : null;
      },
      30_000,
    );
    expect(bStatus.last_error?.code).toBe("WORKSPACE_DELETED");
    for (const id of shared) expect(await holds(b, id)).toBe(false);
    expect((await b.call<{ memories: unknown[] }>("GET", "/v1/memories?limit=10")).body.memories).toEqual([]);

    // No file of A or B holds the content (the purge checkpoints the WAL after it commits).
    const leftovers = () =>
      [a, b].flatMap((d) => Object.values(markers).flatMap((m) => filesHolding(join(d.home, "data"), m)));
    await waitFor(
      "no file of A or B to hold the content",
      async () => leftovers().length === 0,
      15_000,
    ).catch(() => undefined);
    expect(leftovers()).toEqual([]);

    // The other workspace's daemon keeps its memory and keeps syncing.
    expect(await holds(c, ids.c)).toBe(true);
    expect((await status(c)).state).toBe("live");
    const direct = await api<{ error: { code: string; details: { workspace_id: string } } }>(
      relay.url,
      "GET",
      "/v1/memories?limit=1",
      undefined,
      doomed.key,
    );
    expect(direct.status).toBe(410);
    expect(direct.body.error).toMatchObject({
      code: "WORKSPACE_DELETED",
      details: { workspace_id: doomed.id },
    });
  });
});
