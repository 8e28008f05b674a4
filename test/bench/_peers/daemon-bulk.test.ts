/**
 * The peers bench builds the daemon's store past 100k memories by SQL (`bulkWrite`) instead of
 * through `insertExact`. Its 1M row is only honest if that store is the one the API writes: the
 * same memory rows, keyword rows with the same thread neighbours, links, labels and vectors, and
 * recall answering the same. Checked on a small synthetic corpus laid out as the bench's (seven
 * writers a minute apart), both ways.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteMemoryStore } from "@tribalmemory/daemon/store/sqlite-store";
import { afterAll, describe, expect, it } from "vitest";
import { rng, SYNTHETIC_T0, syntheticId, unit } from "../_corpus.ts";
import { buildDaemonStore, daemonInProcess } from "./daemon.ts";
import type { BuildInfo, PeerDoc } from "./engine.ts";

const DIMS = 32;
const random = rng(11);
const words = [
  "deploy",
  "cache",
  "server",
  "index",
  "vector",
  "rollback",
  "token",
  "queue",
  "shard",
  "replica",
];
const docs: PeerDoc[] = Array.from({ length: 90 }, (_, i) => ({
  id: syntheticId(i),
  text: `${Array.from({ length: 6 }, () => words[Math.floor(random() * words.length)]).join(" ")} #${i}`,
  vector: unit(Float32Array.from({ length: DIMS }, () => random() - 0.5)),
  createdAt: new Date(SYNTHETIC_T0 + i * 60_000).toISOString(),
  source: `agent-${i % 7}`,
}));
const info: BuildInfo = { dims: DIMS, modelId: "bge-small-en-v1.5", count: docs.length };
const root = mkdtempSync(join(tmpdir(), "peers-bulk-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const TABLES = {
  memories: `SELECT rid, id, content, content_hash, dedup_key, source_type, source_instance, tags, context,
               confidence, created_at, updated_at, created_ms, deleted, expires_ms, project FROM memories ORDER BY rid`,
  // The index is contentless: its every token, by memory, column and position.
  keyword: "SELECT doc, col, offset, term FROM temp.keyword_tokens ORDER BY doc, col, offset",
  links: "SELECT rid, prev, next FROM memory_links ORDER BY rid",
  labels: "SELECT rid, model_id, content_hash FROM embeddings ORDER BY rid",
  vectors: "SELECT rowid, hex(embedding) AS v FROM vec_memories ORDER BY rowid",
};

/** Every table the two builds write, row by row (through the store: vec0 needs its extension). */
async function dump(dir: string): Promise<Record<string, unknown[]>> {
  const store = new SqliteMemoryStore({ path: join(dir, "memories.db"), readWorker: false });
  try {
    store.db.exec("CREATE VIRTUAL TABLE temp.keyword_tokens USING fts5vocab(main, memories_fts, instance)");
    return Object.fromEntries(
      Object.entries(TABLES).map(([name, sql]) => [name, store.db.prepare(sql).all()]),
    );
  } finally {
    await store.close();
  }
}

describe("peers bench: the daemon's store built in bulk", () => {
  it("holds what insertExact writes, thread neighbours included, and recalls the same", async () => {
    const api = join(root, "api");
    const bulk = join(root, "bulk");
    await buildDaemonStore(api, [docs.slice(0, 40), docs.slice(40)], info);
    await buildDaemonStore(bulk, [docs.slice(0, 40), docs.slice(40)], info, 0);
    const [a, b] = [await dump(api), await dump(bulk)];
    expect((a.links as unknown[]).length).toBe(docs.length); // every memory has a neighbour here
    const withPrev = new Set(
      (a.keyword as { doc: number; col: string }[]).filter((t) => t.col === "prev").map((t) => t.doc),
    );
    expect(withPrev.size).toBe(docs.length - 7);
    for (const table of Object.keys(TABLES))
      expect({ table, rows: b[table] }).toEqual({ table, rows: a[table] });

    const [ia, ib] = [await daemonInProcess.open(api, info), await daemonInProcess.open(bulk, info)];
    try {
      for (const i of [3, 40, 88]) {
        const q = { text: docs[i].text.split(" ").slice(0, 3).join(" "), vector: docs[i].vector };
        const top = await ib.search(q, 10);
        expect(top[0]).toBe(docs[i].id);
        expect(top).toEqual(await ia.search(q, 10));
      }
    } finally {
      await ia.close();
      await ib.close();
    }
  }, 60_000);
});
