import { join } from "node:path";
import { SqliteMemoryStore } from "@tribalmemory/daemon/store/sqlite-store";
import { outboxLength } from "@tribalmemory/daemon/store/sync-log-store";
import { afterAll, expect, it } from "vitest";
import {
  api,
  type DaemonProcess,
  freePort,
  type RelayProcess,
  relayDb,
  relayInit,
  startDaemonProcess,
  startRelayProcess,
  tempDir,
  waitFor,
} from "./harness.ts";

const N = 600;
const dir = tempDir("tm-crash-");
let relay: RelayProcess | null = null;
let daemon: DaemonProcess | null = null;

afterAll(async () => {
  await Promise.all([daemon?.kill(), relay?.kill()]);
  dir.remove();
});

async function relayLog(url: string, key: string): Promise<string[]> {
  const hashes: string[] = [];
  let cursor = 0;
  for (;;) {
    const page = await api<{ entries: { hash: string }[]; cursor: number; more: boolean }>(
      url,
      "POST",
      "/v1/sync/pull",
      { cursor },
      key,
    );
    hashes.push(...page.body.entries.map((e) => e.hash));
    cursor = page.body.cursor;
    if (!page.body.more) return hashes;
  }
}

it("a relay SIGKILLed in the middle of a push keeps every acknowledged change, duplicates none, and gets the rest resent", async () => {
  const db = relayDb(join(dir.path, "relay"));
  const port = await freePort();
  const { apiKey } = await relayInit(db);
  const home = join(dir.path, "a");
  daemon = await startDaemonProcess({ home, relayUrl: `http://127.0.0.1:${port}`, apiKey, instance: "a" });
  for (let i = 0; i < N; i += 300) {
    const memories = Array.from({ length: 300 }, (_, j) => ({
      content: `crash test fact number ${i + j} about item ${(i + j) * 7}`,
    }));
    expect((await daemon.call("POST", "/v1/remember/batch", { memories })).status).toBe(201);
  }
  relay = await startRelayProcess(db, port);
  const url = relay.url;
  await waitFor(
    "part of the outbox to be acknowledged",
    async () => {
      const s = (await daemon?.call<{ outbox: number }>("GET", "/v1/sync/status"))?.body;
      return s && s.outbox < N && s.outbox > 0;
    },
    60_000,
    5,
  );
  await relay.kill("SIGKILL");
  relay = null;
  await daemon.kill();
  daemon = null;

  const local = new SqliteMemoryStore({ path: join(home, "data", "memories.db") });
  const unacked = outboxLength(local);
  await local.close();
  expect(unacked).toBeGreaterThan(0);
  expect(unacked).toBeLessThan(N);

  relay = await startRelayProcess(db, port);
  const stored = await relayLog(relay.url, apiKey);
  expect(stored.length).toBeGreaterThanOrEqual(N - unacked);
  expect(new Set(stored).size).toBe(stored.length);

  daemon = await startDaemonProcess({ home, relayUrl: relay.url, apiKey, instance: "a" });
  await waitFor(
    "the rest to be resent",
    async () => {
      const s = (await daemon?.call<{ outbox: number; state: string }>("GET", "/v1/sync/status"))?.body;
      return s && s.outbox === 0 && s.state === "live";
    },
    60_000,
  );
  const all = await relayLog(relay.url, apiKey);
  expect(all.length).toBe(N);
  expect(new Set(all).size).toBe(N);
  expect(
    (await api<{ total_memories: number }>(url, "GET", "/v1/stats", undefined, apiKey)).body.total_memories,
  ).toBe(N);
}, 120_000);
