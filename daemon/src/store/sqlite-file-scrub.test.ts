import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { newActorId } from "@tribalmemory/shared/memory/document";
import { MemoryService } from "@tribalmemory/shared/service/memory-service";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { FileScrubber } from "./sqlite-file-scrub.ts";
import { SqliteMemoryStore } from "./sqlite-store.ts";

/**
 * A purge rewrote the whole keyword index (FTS5 `optimize`) on the store's connection: 3.3 s at
 * 1M memories, during which the daemon answered nothing. It now runs on a worker's connection,
 * and a purge still returns only once no file of the store holds the purged text.
 */
describe("a purge's file scrub", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "tm-scrub-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const holding = (marker: string) =>
    readdirSync(dir).filter((f) => readFileSync(join(dir, f)).includes(Buffer.from(marker)));

  async function storeWith(markers: string[]) {
    const store = new SqliteMemoryStore({ path: join(dir, "memories.db") });
    const service = new MemoryService({ store, actor: newActorId(), instanceId: "t" });
    for (let i = 0; i < 30; i++)
      await service.remember({
        content: `Ordinary fact ${i} about service-${i}`,
        source_type: "user_explicit",
      });
    const ids: string[] = [];
    for (const marker of markers)
      ids.push(
        (await service.remember({ content: `The secret is ${marker}`, source_type: "user_explicit" })).memory
          .id,
      );
    return { store, ids };
  }

  const marker = () => `zq${randomBytes(6).toString("hex")}zq`;

  it("rewrites the keyword index on a worker, and returns once no file holds the text", async () => {
    const secret = marker();
    const { store, ids } = await storeWith([secret]);
    try {
      expect(holding(secret).length).toBeGreaterThan(0);
      const exec = vi.spyOn(store.db, "exec");
      expect(await store.purge(ids[0])).toBe(true);
      expect(exec.mock.calls.filter(([sql]) => sql.includes("optimize"))).toEqual([]);
      expect(holding(secret)).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it("lets purges that arrive together share one rewrite", async () => {
    const secrets = [marker(), marker(), marker(), marker()];
    const { store, ids } = await storeWith(secrets);
    const rewrites = vi.spyOn(
      FileScrubber.prototype as unknown as { rewriteIndex: () => Promise<void> },
      "rewriteIndex",
    );
    try {
      expect(await Promise.all(ids.slice(0, 3).map((id) => store.purge(id)))).toEqual([true, true, true]);
      expect(rewrites).toHaveBeenCalledTimes(1);
      await store.purge(ids[3]);
      expect(rewrites).toHaveBeenCalledTimes(2);
      for (const s of secrets) expect(holding(s)).toEqual([]);
    } finally {
      rewrites.mockRestore();
      await store.close();
    }
  });
});
