/**
 * Every engine of `pnpm bench peers` on a 50-memory corpus: built and opened for real (SQLite,
 * LanceDB's native library, Orama, a real tribalmemoryd process, the MCP reference server over
 * stdio), each must find a memory by its own vector and a word only it contains. A broken adapter
 * (wrong id column, fusion order lost, a server that never answered) would make the benchmark's
 * table a table of zeros; this fails first. No model, no download.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { rng, unit } from "../_corpus.ts";
import { daemonHttp, daemonInProcess } from "./daemon.ts";
import type { BuildInfo, PeerDoc, PeerEngine } from "./engine.ts";
import { reciprocalRankFusion } from "./engine.ts";
import { syntheticId } from "./fixtures.ts";
import { lanceFlat } from "./lancedb.ts";
import { mcpMemory } from "./mcp-memory.ts";
import { orama } from "./orama.ts";
import { ftsOrQuery, sqliteRrf } from "./sqlite-rrf.ts";

const DIMS = 384;
const random = rng(3);
const docs: PeerDoc[] = Array.from({ length: 50 }, (_, i) => ({
  id: syntheticId(i),
  // Shared filler words plus one word that belongs to this memory alone.
  text: `the deploy note about servers and caches number ${i} mentions zqx${i}word`,
  vector: unit(Float32Array.from({ length: DIMS }, () => random() - 0.5)),
  createdAt: new Date(Date.UTC(2026, 0, 1, 0, i)).toISOString(),
  source: "agent-0",
}));
const info: BuildInfo = { dims: DIMS, modelId: "bge-small-en-v1.5", count: docs.length };
const root = mkdtempSync(join(tmpdir(), "peers-engines-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("bench peers engines", () => {
  for (const engine of [
    daemonInProcess,
    daemonHttp,
    lanceFlat,
    orama,
    sqliteRrf,
    mcpMemory,
  ] as PeerEngine[]) {
    it(`${engine.name} finds a memory by its own vector and its one word`, async () => {
      const dir = join(root, engine.name);
      await engine.build(dir, [docs.slice(0, 25), docs.slice(25)], info);
      const index = await engine.open(dir, info);
      try {
        const target = docs[17];
        const query = engine.vectors
          ? { text: "what does zqx17word say", vector: target.vector }
          : { text: "zqx17word", vector: target.vector };
        const top = await index.search(query, 5);
        expect(top[0]).toBe(target.id);
        if (index.vectorOnly) expect((await index.vectorOnly(docs[30].vector, 3))[0]).toBe(docs[30].id);
      } finally {
        await index.close();
      }
      // A real tribalmemoryd starts in seconds, but in tens of them on a loaded 2-core box.
    }, 120_000);
  }

  it("plain RRF ranks an id found by both lists above ids found by one", () => {
    expect(
      reciprocalRankFusion([
        ["a", "b"],
        ["c", "b"],
      ])[0],
    ).toBe("b");
  });

  it("the glue's FTS5 query quotes every word so punctuation cannot break MATCH", () => {
    expect(ftsOrQuery(`What's "AND" near(x)?`)).toBe(`"what" OR "s" OR "and" OR "near" OR "x"`);
    expect(ftsOrQuery("?!")).toBeNull();
  });
});
