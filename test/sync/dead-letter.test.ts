import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { SqliteMemoryStore } from "@tribalmemory/daemon/store/sqlite-store";
import { dedupKey } from "@tribalmemory/shared/memory/content";
import { createMemoryDoc, newActorId, saveMemoryDoc } from "@tribalmemory/shared/memory/document";
import { newMemoryId } from "@tribalmemory/shared/memory/ids";
import type { Memory } from "@tribalmemory/shared/memory/types";
import { encodeBytes, MAX_CHANGE_BYTES } from "@tribalmemory/shared/sync/protocol";
import { sampleMemory } from "@tribalmemory/shared/testing/sample-memory";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
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

/**
 * Issue 8, finding 7: a change the relay refuses for good used to be retried forever at the
 * head of the daemon's outbox, so nothing written after it ever synced. Now it is moved to the
 * daemon's dead letters, shown by `sync status` and /v1/health, and the outbox moves on.
 *
 * The refused changes are written as an older daemon (or another writer) would have left them:
 * straight into the data folder's store, past the service's size policy.
 */
const CLI = fileURLToPath(new URL("../../cli/src/tribalmemory.ts", import.meta.url));

type DeadLetters = {
  count: number;
  recent: { hash: string; doc_id: string; code: string; message: string }[];
};
type Status = {
  state: string;
  outbox: number;
  last_error: { code: string } | null;
  dead_letters: DeadLetters;
};

function memory(content: string, context: Memory["context"] = null): Memory {
  return sampleMemory({ content, source_type: "user_explicit", source_instance: "old-daemon@a", context });
}

describe("changes the relay refuses for good are dead-lettered; the outbox keeps syncing", () => {
  const dir = tempDir("tm-dead-");
  const db = relayDb(`${dir.path}/relay`);
  let key: string;
  let relay: RelayProcess;
  let a: DaemonProcess;
  let b: DaemonProcess;
  const homeA = () => `${dir.path}/a`;
  const startA = () =>
    startDaemonProcess({ home: homeA(), relayUrl: relay.url, apiKey: key, instance: "agent@a" });
  const status = async (d: DaemonProcess) => (await d.call<Status>("GET", "/v1/sync/status")).body;
  const oversize = { id: "", hash: "" };
  const forged = { hash: "" };

  beforeAll(async () => {
    key = (await relayInit(db)).apiKey;
    relay = await startRelayProcess(db, await freePort());
    [a, b] = await Promise.all([
      startA(),
      startDaemonProcess({ home: `${dir.path}/b`, relayUrl: relay.url, apiKey: key, instance: "agent@b" }),
    ]);
  }, 120_000);

  afterAll(async () => {
    await Promise.all([a?.kill(), b?.kill(), relay?.kill()]);
    dir.remove();
  });

  it("an oversize change (900 KB context) and a forged change in A's outbox do not stop A's later writes from reaching B", async () => {
    const first = await a.call<{ memory_id: string }>("POST", "/v1/remember", {
      content: "Before the bad write",
    });
    expect(first.status).toBe(201);
    await waitFor("B to hold the first memory", async () => {
      return (await b.call("GET", `/v1/memories/${first.body.memory_id}`)).status === 200;
    });

    // A stops; its data folder gets what an older daemon would have stored.
    await a.kill();
    const store = new SqliteMemoryStore({ path: join(homeA(), "data", "memories.db"), readWorker: false });
    const actor = newActorId();
    const big = createMemoryDoc(
      memory("Build notes with a huge context", { log: randomBytes(675_000).toString("base64") }),
      actor,
    );
    expect(big.change.bytes.byteLength).toBeGreaterThan(MAX_CHANGE_BYTES);
    // A change whose bytes build one memory but that claims another: SYNC_INVALID_CHANGE.
    const other = createMemoryDoc(memory("A change that claims the wrong memory"), actor);
    const writes = [big, other].map((w) => ({
      memory: w.memory,
      dedupKey: dedupKey(w.memory.content),
      change: w === other ? { ...w.change, docId: newMemoryId() } : w.change,
      docBytes: saveMemoryDoc(w.doc),
    }));
    store.writeSync(writes, "local");
    await store.close();
    oversize.id = big.memory.id;
    oversize.hash = big.change.hash;
    forged.hash = other.change.hash;

    a = await startA();
    const later: string[] = [];
    for (const content of ["Written after the bad write", "And one more after it"]) {
      const r = await a.call<{ memory_id: string }>("POST", "/v1/remember", { content });
      expect(r.status).toBe(201);
      later.push(r.body.memory_id);
    }
    // A later edit of the oversize memory depends on its dead change: dead-lettered too.
    expect((await a.call("POST", "/v1/forget", { memory_id: oversize.id })).status).toBe(200);
    await waitFor(
      "B to hold A's later writes",
      async () =>
        (await Promise.all(later.map((id) => b.call("GET", `/v1/memories/${id}`)))).every(
          (r) => r.status === 200,
        ),
      30_000,
      100,
    );
    const s = await waitFor("A's outbox to drain", async () => {
      const st = await status(a);
      return st.outbox === 0 && st.state === "live" ? st : null;
    });
    expect(s.dead_letters.count).toBe(3);
    const byHash = new Map(s.dead_letters.recent.map((d) => [d.hash, d]));
    expect(byHash.get(oversize.hash)).toMatchObject({ doc_id: oversize.id, code: "CHANGE_TOO_LARGE" });
    expect(byHash.get(forged.hash)?.code).toBe("SYNC_INVALID_CHANGE");
    expect(
      s.dead_letters.recent.find((d) => d.doc_id === oversize.id && d.hash !== oversize.hash)?.code,
    ).toBe("SYNC_MISSING_DEPS");
    // Neither refused memory reached the relay or B.
    expect((await b.call("GET", `/v1/memories/${oversize.id}`)).status).toBe(404);
    expect((await api(relay.url, "GET", `/v1/memories/${oversize.id}`, undefined, key)).status).toBe(404);
  });

  it("dead letters are listed by GET /v1/sync/status, /v1/health and `tribalmemory sync status`, and survive a restart", async () => {
    const health = (await a.call<{ sync: { dead_letters: DeadLetters } }>("GET", "/v1/health")).body;
    expect(health.sync.dead_letters.count).toBe(3);
    await a.kill();
    a = await startA();
    const s = await status(a);
    expect(s.dead_letters.count).toBe(3);
    expect(s.outbox).toBe(0);
    const { stdout } = await promisify(execFile)(process.execPath, [CLI, "sync", "status", "--url", a.url], {
      env: {
        ...process.env,
        TRIBAL_MEMORY_HOME: homeA(),
        TRIBAL_MEMORY_CONFIG: join(homeA(), "config.yaml"),
      },
    });
    expect(stdout).toMatch(/dead letters:\s+3 change\(s\) the relay refused for good/);
    expect(stdout).toContain(oversize.hash.slice(0, 12));
    expect(stdout).toContain("CHANGE_TOO_LARGE");
  });

  it("the relay refuses an oversize change by its hash with CHANGE_TOO_LARGE, not the whole push as invalid", async () => {
    const big = createMemoryDoc(
      memory("Pushed straight to the relay", { log: randomBytes(300_000).toString("base64") }),
      newActorId(),
    );
    const small = createMemoryDoc(memory("A fine change in the same push"), newActorId());
    const wire = (w: typeof big) => ({
      doc_id: w.change.docId,
      hash: w.change.hash,
      deps: w.change.deps,
      bytes: encodeBytes(w.change.bytes),
    });
    const r = await api<{ error: { code: string; details: { hash: string } } }>(
      relay.url,
      "POST",
      "/v1/sync/push",
      { device: "raw-client", changes: [wire(small), wire(big)] },
      key,
    );
    expect(r.status).toBe(413);
    expect(r.body.error.code).toBe("CHANGE_TOO_LARGE");
    expect(r.body.error.details.hash).toBe(big.change.hash);
  });
});
