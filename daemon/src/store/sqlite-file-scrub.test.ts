import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { newActorId } from "@tribalmemory/shared/memory/document";
import { MemoryService } from "@tribalmemory/shared/service/memory-service";
import { folderPerTest } from "@tribalmemory/shared/testing/temp-folder";
import { describe, expect, it } from "vitest";
import { SCRUB_PENDING_META } from "./sqlite-file-scrub.ts";
import { SqliteMemoryStore } from "./sqlite-store.ts";

/** The files of the store's folder whose bytes hold `marker`. */
function filesHolding(path: string, marker: string): string[] {
  const dir = dirname(path);
  return readdirSync(dir).filter((name) => readFileSync(join(dir, name)).includes(Buffer.from(marker)));
}

async function storeWith(path: string, options: { scrubStepPages?: number } = {}) {
  const store = new SqliteMemoryStore({ path, ...options });
  const service = new MemoryService({ store, actor: newActorId(), instanceId: "t" });
  const words = ["ledger", "gateway", "invoice", "staging", "retry", "failover", "rollback", "cache"];
  // Written a few at a time, so the keyword index holds several segments over many pages.
  for (let batch = 0; batch < 20; batch++) {
    await service.rememberMany(
      Array.from({ length: 30 }, (_, i) => ({
        content: `Note ${batch}-${i}: the ${words[i % 8]} of service-${batch * 30 + i} moved to host-${i * 7 + batch} after ${words[(i + batch) % 8]} checks`,
        source_type: "user_explicit" as const,
      })),
    );
  }
  return { store, service };
}

/**
 * At 1M memories a purge held the event loop 3.47 s: FTS5's `optimize` rewrote the whole keyword
 * index in one statement (to drop the purged row's terms, which FTS5 keeps in older segments),
 * and every other request of every agent waited for it. The rewrite now runs in short steps with
 * the event loop free between them, and the purge still returns only once no file holds the text.
 */
describe("a purge's file scrub", () => {
  const inFolder = folderPerTest("tm-scrub-");

  it("runs in steps that let other work in, and leaves the purged text in no file", async () => {
    const path = inFolder("memories.db");
    const { store, service } = await storeWith(path, { scrubStepPages: 1 });
    try {
      const marker = `vaultcode${Date.now().toString(36)}`;
      const secret = await service.remember({
        content: `The ${marker} opens the vault`,
        source_type: "user_explicit",
      });
      expect(filesHolding(path, marker).length).toBeGreaterThan(0);
      let turns = 0;
      let purging = true;
      const turn = () => {
        turns++;
        if (purging) setImmediate(turn);
      };
      setImmediate(turn);
      // A write that arrives while the index is being rewritten.
      const during = new Promise<string>((resolve, reject) =>
        setImmediate(() =>
          service
            .remember({
              content: "The gateway moved to host-9000 during the purge",
              source_type: "user_explicit",
            })
            .then((o) => resolve(o.memory.id), reject),
        ),
      );
      expect(await store.purge(secret.memory.id)).toBe(true);
      purging = false;
      // Before: 0 (the rewrite ran inside the call, and the purge resolved before any other turn).
      expect(turns).toBeGreaterThanOrEqual(5);
      expect(filesHolding(path, marker)).toEqual([]);
      expect(store.getMeta(SCRUB_PENDING_META)).toBeNull();
      const writtenMeanwhile = await during;
      expect((await store.get(writtenMeanwhile))?.content).toContain("host-9000");
      const found = await store.keywordSearch(["host-9000"], 5, {});
      expect(found.map((r) => r.id)).toContain(writtenMeanwhile);
      expect(await store.keywordSearch([marker], 5, {})).toEqual([]);
      expect(
        store.db.prepare("INSERT INTO memories_fts (memories_fts) VALUES ('integrity-check')").run(),
      ).toBeTruthy();
    } finally {
      await store.close();
    }
  });

  it("serves purges that arrive during a rewrite with one more rewrite", async () => {
    const path = inFolder("memories.db");
    const { store, service } = await storeWith(path, { scrubStepPages: 1 });
    try {
      const markers = ["alphamark", "betamark", "gammamark"].map((m) => `${m}${Date.now().toString(36)}`);
      const ids: string[] = [];
      for (const m of markers) {
        ids.push(
          (await service.remember({ content: `Secret ${m} here`, source_type: "user_explicit" })).memory.id,
        );
      }
      const first = store.purge(ids[0]);
      await new Promise((resolve) => setImmediate(resolve));
      const rest = [store.purge(ids[1]), store.purge(ids[2])];
      expect(await Promise.all([first, ...rest])).toEqual([true, true, true]);
      for (const m of markers) expect(filesHolding(path, m)).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it("is finished by the next open when the process stopped before it", async () => {
    const path = inFolder("memories.db");
    const marker = `crashcode${Date.now().toString(36)}`;
    {
      const { store, service } = await storeWith(path);
      const secret = await service.remember({
        content: `The ${marker} opens the vault`,
        source_type: "user_explicit",
      });
      // A purge applied inside a transaction (as sync applies one) scrubs once it has committed;
      // the process stops first: the connection closes without the rewrite.
      store.db.transaction(() => store.purgeSync(secret.memory.id)).immediate();
      store.db.close();
      await store.close();
    }
    expect(filesHolding(path, marker).length).toBeGreaterThan(0);
    const reopened = new SqliteMemoryStore({ path });
    try {
      expect(reopened.getMeta(SCRUB_PENDING_META)).toBe("1");
      for (let i = 0; i < 100 && reopened.getMeta(SCRUB_PENDING_META) !== null; i++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(reopened.getMeta(SCRUB_PENDING_META)).toBeNull();
      expect(filesHolding(path, marker)).toEqual([]);
    } finally {
      await reopened.close();
    }
  });
});
