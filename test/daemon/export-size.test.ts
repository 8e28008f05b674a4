import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { SqliteMemoryStore } from "@tribalmemory/daemon/store/sqlite-store";
import { readLocalToken } from "@tribalmemory/shared/config/local-token";
import { newActorId } from "@tribalmemory/shared/memory/document";
import { MemoryService } from "@tribalmemory/shared/service/memory-service";
import { request } from "undici";
import { afterAll, describe, expect, it } from "vitest";
import { spawnDaemon, tempHome } from "../helpers/daemon.ts";

const MEMORIES = 3000;
const CONTENT_CHARS = 24_000;
const HEAP_MIB = 128;

/**
 * `POST /v1/export` (TribalMemory's bundle) built the whole answer in memory: every entry in an
 * array, then one JSON string of them all. A store larger than the heap crashed the daemon
 * (here: 72 MB of memories, a 128 MB heap, "JavaScript heap out of memory"); at 1M memories the
 * string alone passes V8's limit (~512 MB). The answer is now written as the entries are read.
 */
describe("POST /v1/export of a store larger than the daemon's heap", () => {
  const home = tempHome("tm-export-size-");
  afterAll(() => home.cleanup());

  it("streams the bundle, and the daemon stays up", async () => {
    const dataDir = join(home.home, "data");
    mkdirSync(dataDir, { recursive: true });
    const store = new SqliteMemoryStore({ path: join(dataDir, "memories.db") });
    const service = new MemoryService({ store, actor: newActorId(), instanceId: "t" });
    const filler = "z".repeat(CONTENT_CHARS);
    for (let i = 0; i < MEMORIES; i += 100) {
      await service.rememberMany(
        Array.from({ length: 100 }, (_, j) => ({
          content: `Memory ${i + j}: ${filler}`,
          source_type: "import" as const,
          tags: [`batch-${i / 100}`],
        })),
      );
    }
    await store.close();

    const daemon = await spawnDaemon(home.home, ["--embedding", "none"], {
      NODE_OPTIONS: `--max-old-space-size=${HEAP_MIB}`,
    });
    try {
      const res = await request(`${daemon.url}/v1/export`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          authorization: `Bearer ${readLocalToken(home.home)}`,
        },
        body: "{}",
      });
      const text = await res.body.text();
      expect(res.statusCode).toBe(200);
      expect(text.length).toBeGreaterThan(MEMORIES * CONTENT_CHARS);
      const body = JSON.parse(text);
      expect(body).toMatchObject({ success: true, memory_count: MEMORIES });
      expect(body.bundle.manifest).toMatchObject({ schema_version: "1.0", memory_count: MEMORIES });
      expect(body.bundle.entries).toHaveLength(MEMORIES);
      const contents = new Set(body.bundle.entries.map((e: { content: string }) => e.content));
      expect(contents.size).toBe(MEMORIES);
      expect(contents.has(`Memory 0: ${filler}`)).toBe(true);
      // A filtered export, and the daemon still answers after both.
      const some = await request(`${daemon.url}/v1/export`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          authorization: `Bearer ${readLocalToken(home.home)}`,
        },
        body: JSON.stringify({ tags: ["batch-3"] }),
      });
      const part = (await some.body.json()) as { memory_count: number; bundle: { entries: unknown[] } };
      expect(part.memory_count).toBe(100);
      expect(part.bundle.entries).toHaveLength(100);
      const health = await request(`${daemon.url}/v1/health`);
      expect(health.statusCode).toBe(200);
      await health.body.dump();
      expect(daemon.child.exitCode).toBeNull();
    } finally {
      daemon.child.kill("SIGTERM");
    }
  }, 120_000);
});
