import { SqliteMemoryStore } from "@tribalmemory/daemon/store/sqlite-store";
import {
  applyRemoteBatch,
  markSynced,
  outboxLength,
  readOutbox,
  syncCursor,
} from "@tribalmemory/daemon/store/sync-log-store";
import { newActorId } from "@tribalmemory/shared/memory/document";
import type { Memory } from "@tribalmemory/shared/memory/types";
import { MemoryService } from "@tribalmemory/shared/service/memory-service";
import type { MemoryStore } from "@tribalmemory/shared/store/memory-store";
import { createWorkspace, PgMemoryStore, type RelayDatabase } from "@tribalmemory/sync-server";
import { wireToIngest } from "@tribalmemory/sync-server/service/relay-workspaces";
import { openTestDatabase } from "@tribalmemory/sync-server/testing";
import fc from "fast-check";
import { afterAll, beforeAll, expect, it } from "vitest";

/**
 * A randomised simulation of several daemons and one relay, with the network in between
 * dropping, duplicating, reordering and delaying messages and clients reconnecting. The
 * protocol pieces are the real ones (outbox reads, relay ingest, log reads, batch apply with
 * cursor); only the socket is simulated. After quiescence every replica must hold the same
 * materialised memories.
 */
const CONTENTS = [
  "use pnpm",
  "Use PNPM.",
  "deploy on friday",
  "the db is postgres",
  "cats are great",
  "rotate keys monthly",
];
const TAGS = ["a", "b", "c", "ops"];
const CLIENTS = 3;

type Batch = Awaited<ReturnType<PgMemoryStore["readLog"]>>;

interface Client {
  store: SqliteMemoryStore;
  service: MemoryService;
  actor: string;
  /** Batches on the wire towards this client, in send order. */
  inbox: Batch[];
  /** Where the next fetch continues (the relay's "sent" pointer for this socket). */
  fetchFrom: number;
}

type Op =
  | { t: "remember"; c: number; content: number; tag: number }
  | { t: "tag"; c: number; pick: number; tag: number }
  | { t: "forget"; c: number; pick: number }
  | { t: "correct"; c: number; pick: number; content: number }
  | { t: "push"; c: number; dropAck: boolean; duplicate: boolean }
  | { t: "fetch"; c: number }
  | { t: "deliver"; c: number; pick: number }
  | { t: "drop"; c: number; pick: number }
  | { t: "dup"; c: number; pick: number }
  | { t: "reconnect"; c: number };

const client = fc.nat(CLIENTS - 1);
const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      t: fc.constant("remember" as const),
      c: client,
      content: fc.nat(CONTENTS.length - 1),
      tag: fc.nat(TAGS.length - 1),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant("tag" as const),
      c: client,
      pick: fc.nat(),
      tag: fc.nat(TAGS.length - 1),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("forget" as const), c: client, pick: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant("correct" as const),
      c: client,
      pick: fc.nat(),
      content: fc.nat(CONTENTS.length - 1),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant("push" as const),
      c: client,
      dropAck: fc.boolean(),
      duplicate: fc.boolean(),
    }),
  },
  { weight: 3, arbitrary: fc.record({ t: fc.constant("fetch" as const), c: client }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant("deliver" as const), c: client, pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("drop" as const), c: client, pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("dup" as const), c: client, pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("reconnect" as const), c: client }) },
);

let db: RelayDatabase;
beforeAll(async () => {
  db = await openTestDatabase();
}, 60_000);
afterAll(async () => {
  await db?.close();
});

async function everything(store: MemoryStore): Promise<Memory[]> {
  const page = await store.list({
    filters: { includeDeleted: true, includeSuperseded: true },
    limit: 10_000,
    cursor: null,
  });
  return page.memories.sort((a, b) => (a.id < b.id ? -1 : 1));
}

async function push(relay: PgMemoryStore, c: Client, ack: boolean, duplicate: boolean): Promise<void> {
  const changes = readOutbox(c.store, 3);
  if (!changes.length) return;
  const outcome = await relay.ingest(wireToIngest(changes), c.actor);
  if (duplicate) await relay.ingest(wireToIngest(changes), c.actor);
  expect(outcome.error).toBeNull();
  if (ack)
    markSynced(
      c.store,
      outcome.results.filter((r) => r.status !== "purged").map((r) => r.hash),
    );
}

async function deliver(c: Client, batch: Batch): Promise<void> {
  const r = await c.service.writeBeside(async () => {
    const out = applyRemoteBatch(c.store, c.actor, batch.entries, batch.embeddings, batch.from, batch.cursor);
    return { value: out, touchedIds: out.touchedIds };
  });
  if (r.status === "gap") reconnect(c);
}

function reconnect(c: Client): void {
  c.inbox = [];
  c.fetchFrom = syncCursor(c.store);
}

async function pick(c: Client, n: number): Promise<Memory | null> {
  const live = (await everything(c.store)).filter((m) => !m.deleted);
  return live.length ? live[n % live.length] : null;
}

async function run(ops: Op[]): Promise<void> {
  const { workspaceId } = await createWorkspace(db, { name: "sim" });
  const relay = new PgMemoryStore(db, workspaceId, { actor: newActorId() });
  const clients: Client[] = Array.from({ length: CLIENTS }, () => {
    const store = new SqliteMemoryStore({ path: ":memory:" });
    const actor = newActorId();
    return {
      store,
      actor,
      service: new MemoryService({ store, actor, instanceId: "sim" }),
      inbox: [],
      fetchFrom: 0,
    };
  });
  try {
    for (const o of ops) {
      const c = clients[o.c];
      switch (o.t) {
        case "remember":
          await c.service.remember({
            content: CONTENTS[o.content],
            source_type: "user_explicit",
            tags: [TAGS[o.tag]],
          });
          break;
        case "tag": {
          const m = await pick(c, o.pick);
          if (m) await c.service.edit(m.id, { addTags: [TAGS[o.tag]] });
          break;
        }
        case "forget": {
          const m = await pick(c, o.pick);
          if (m) await c.service.forget(m.id);
          break;
        }
        case "correct": {
          const m = await pick(c, o.pick);
          if (m)
            await c.service.correct({
              original_id: m.id,
              corrected_content: `${CONTENTS[o.content]} (corrected)`,
            });
          break;
        }
        case "push":
          await push(relay, c, !o.dropAck, o.duplicate);
          break;
        case "fetch": {
          const batch = await relay.readLog(c.fetchFrom, 4, { skipDevice: c.actor });
          c.fetchFrom = batch.cursor;
          c.inbox.push(batch);
          break;
        }
        case "deliver":
          if (c.inbox.length) await deliver(c, c.inbox.splice(o.pick % c.inbox.length, 1)[0]);
          break;
        case "drop":
          if (c.inbox.length) c.inbox.splice(o.pick % c.inbox.length, 1);
          break;
        case "dup":
          if (c.inbox.length) c.inbox.splice(o.pick % c.inbox.length, 0, c.inbox[o.pick % c.inbox.length]);
          break;
        case "reconnect":
          reconnect(c);
          break;
      }
    }
    // Quiescence: the network heals; every outbox drains, then every client catches up in order.
    for (const c of clients) {
      while (outboxLength(c.store) > 0) await push(relay, c, true, false);
    }
    const head = await relay.head();
    for (const c of clients) {
      reconnect(c);
      while (syncCursor(c.store) < head) {
        const batch = await relay.readLog(syncCursor(c.store), 50, { skipDevice: c.actor });
        await deliver(c, batch);
      }
    }
    const expected = await everything(relay);
    for (const c of clients) expect(await everything(c.store)).toEqual(expected);
    // Cross-machine duplicates are merged the same way everywhere: one live memory per content.
    const live = expected.filter((m) => !m.deleted && m.duplicate_of === null && m.supersedes === null);
    const keys = live.map((m) => m.content.toLowerCase().replace(/[.]$/, ""));
    expect(new Set(keys).size).toBe(keys.length);
  } finally {
    for (const c of clients) await c.store.close();
  }
}

it("replicas converge to identical memories despite dropped, duplicated, reordered and delayed messages", async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(op, { minLength: 5, maxLength: 60 }), (ops) => run(ops)),
    {
      numRuns: 25,
      endOnFailure: true,
      // A lost batch followed by a delivered one: the client must notice the gap and resync.
      examples: [
        [
          [
            ...[0, 2, 3, 4, 5].map((content) => ({ t: "remember" as const, c: 0, content, tag: 0 })),
            { t: "push" as const, c: 0, dropAck: false, duplicate: false },
            { t: "push" as const, c: 0, dropAck: false, duplicate: true },
            { t: "fetch" as const, c: 1 },
            { t: "fetch" as const, c: 1 },
            { t: "drop" as const, c: 1, pick: 0 },
            { t: "deliver" as const, c: 1, pick: 0 },
            { t: "remember" as const, c: 1, content: 1, tag: 1 },
          ],
        ],
      ],
    },
  );
}, 110_000);
