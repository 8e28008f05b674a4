import { TribalError } from "@tribalmemory/shared/errors";
import { newActorId } from "@tribalmemory/shared/memory/document";
import { MemoryService, type RememberOutcome } from "@tribalmemory/shared/service/memory-service";
import type { StoreWrite } from "@tribalmemory/shared/store/memory-store";
import { afterEach, describe, expect, it } from "vitest";
import { SqliteMemoryStore } from "../../daemon/src/store/sqlite-store.ts";

/**
 * Group commit (shared/src/service/group-commit.ts): concurrent remembers waiting for the write
 * queue are written in one transaction, and each caller gets the outcome it would have had
 * had they been written one after another.
 */
describe("group commit of concurrent remembers", () => {
  let store: SqliteMemoryStore;
  afterEach(async () => {
    await store?.close();
  });

  /** A real SQLite store; counts its write transactions and refuses any holding `poison`. */
  function serviceOverStore() {
    store = new SqliteMemoryStore({ path: ":memory:" });
    const transactions: StoreWrite[][] = [];
    const write = store.write.bind(store);
    store.write = async (writes: StoreWrite[]) => {
      transactions.push(writes);
      if (writes.some((w) => w.memory.content.includes("poison")))
        throw new TribalError("VALIDATION_FAILED", "poisoned write");
      return write(writes);
    };
    const service = new MemoryService({ store, actor: newActorId(), instanceId: "test" });
    return { service, transactions };
  }

  it("gives 50 concurrent remembers with duplicates each its own outcome and stores each fact once", async () => {
    const { service, transactions } = serviceOverStore();
    const facts = Array.from({ length: 10 }, (_, i) => `Service ${i} is deployed by team ${i} on Mondays`);
    // Each fact five times, interleaved: fact i arrives at positions i, 10+i, 20+i, …
    const bodies = Array.from({ length: 50 }, (_, n) => ({
      content: facts[n % 10],
      source_type: "user_explicit" as const,
    }));
    const outcomes = await Promise.all(bodies.map((b) => service.remember(b)));

    const firstOf = new Map<string, RememberOutcome>();
    outcomes.forEach((o, n) => {
      const fact = facts[n % 10];
      if (n < 10) {
        expect(o.status).toBe("created");
        expect(o.memory.content).toBe(fact);
        firstOf.set(fact, o);
      } else {
        expect(o).toMatchObject({ status: "duplicate", match: "exact" });
        expect(o.duplicateOf).toBe(firstOf.get(fact)?.memory.id);
      }
    });
    const stored = await store.list({ limit: 100, cursor: null, filters: {} });
    expect(stored.memories.map((m) => m.content).sort()).toEqual([...facts].sort());
    expect(new Set(outcomes.map((o) => o.memory.id)).size).toBe(10);
    // Written together: fewer transactions than remembers.
    expect(transactions.length).toBeLessThan(50);
  });

  it("reports each duplicate's tags as after its own merge, as if written one after another", async () => {
    const { service } = serviceOverStore();
    const content = "The billing cron runs at 02:00 UTC";
    const [first, second, third] = await Promise.all([
      service.remember({ content, source_type: "user_explicit", tags: ["a"] }),
      service.remember({ content, source_type: "user_explicit", tags: ["b"] }),
      service.remember({ content, source_type: "user_explicit", tags: ["c"] }),
    ]);
    expect(first).toMatchObject({ status: "created", memory: { tags: ["a"] } });
    expect(second).toMatchObject({
      status: "duplicate",
      duplicateOf: first.memory.id,
      memory: { tags: ["a", "b"] },
    });
    expect(third).toMatchObject({
      status: "duplicate",
      duplicateOf: first.memory.id,
      memory: { tags: ["a", "b", "c"] },
    });
    expect((await store.get(first.memory.id))?.tags).toEqual(["a", "b", "c"]);
  });

  it("fails only the remember whose write fails; the others of its group are stored", async () => {
    const { service } = serviceOverStore();
    const results = await Promise.allSettled(
      ["alpha fact one", "poison fact two", "gamma fact three", "delta fact four"].map((content) =>
        service.remember({ content, source_type: "user_explicit" }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled", "fulfilled"]);
    expect((results[1] as PromiseRejectedResult).reason).toMatchObject({ code: "VALIDATION_FAILED" });
    const stored = await store.list({ limit: 100, cursor: null, filters: {} });
    expect(stored.memories.map((m) => m.content).sort()).toEqual([
      "alpha fact one",
      "delta fact four",
      "gamma fact three",
    ]);
  });

  it("leaves out a remember whose client has gone before its group is written", async () => {
    const { service } = serviceOverStore();
    const gone = new AbortController();
    const pending = [
      service.remember({ content: "kept fact one", source_type: "user_explicit" }),
      service.remember({ content: "abandoned fact", source_type: "user_explicit" }, { signal: gone.signal }),
      service.remember({ content: "kept fact two", source_type: "user_explicit" }),
    ];
    gone.abort();
    const results = await Promise.allSettled(pending);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect((results[1] as PromiseRejectedResult).reason).toMatchObject({ code: "CLIENT_CLOSED_REQUEST" });
    const stored = await store.list({ limit: 100, cursor: null, filters: {} });
    expect(stored.memories.map((m) => m.content).sort()).toEqual(["kept fact one", "kept fact two"]);
  });
});
