/**
 * LanceDB embedded (`@lancedb/lancedb`): one table per index with a native full-text index on the
 * text, hybrid search = FTS + vector fused by its own RRF reranker (k = 60). `lancedb` searches
 * the vectors flat (exact); `lancedb-ivfpq` builds an IVF-PQ index (cosine, √N partitions,
 * 48 sub-vectors: LanceDB's documented starting point) for the sizes where flat is the slow part,
 * with its default nprobes and no refine, so its ANN recall@10 is what a default user gets.
 */
import * as lancedb from "@lancedb/lancedb";
import type { PeerEngine, PeerIndex } from "./engine.ts";

const TABLE = "memories";

function lanceEngine(ivfPq: boolean): PeerEngine {
  return {
    name: ivfPq ? "lancedb-ivfpq" : "lancedb",
    label: ivfPq
      ? "LanceDB embedded, hybrid (FTS + IVF-PQ vector index, RRF reranker)"
      : "LanceDB embedded, hybrid (FTS + flat vector, RRF reranker)",
    vectors: true,
    onDisk: true,
    skip: (size) =>
      ivfPq && (size === "locomo" || size < 50_000)
        ? "flat is exact and fast at this size (an index per conversation of ~600 rows)"
        : null,
    async build(dir, batches, info) {
      const db = await lancedb.connect(dir);
      let table: lancedb.Table | null = null;
      for (const docs of batches) {
        const rows = docs.map((d) => ({ id: d.id, text: d.text, vector: Array.from(d.vector) }));
        if (!table) table = await db.createTable(TABLE, rows, { mode: "overwrite" });
        else await table.add(rows);
      }
      if (!table) throw new Error("LanceDB: no documents to index");
      await table.createIndex("text", { config: lancedb.Index.fts() });
      if (ivfPq) {
        await table.createIndex("vector", {
          config: lancedb.Index.ivfPq({
            distanceType: "cosine",
            numPartitions: Math.max(1, Math.round(Math.sqrt(info.count))),
            numSubVectors: info.dims % 48 === 0 ? 48 : 16,
          }),
        });
      }
      table.close();
      db.close();
    },
    async open(dir): Promise<PeerIndex> {
      const db = await lancedb.connect(dir);
      const table = await db.openTable(TABLE);
      const rrf = await lancedb.rerankers.RRFReranker.create(60);
      const ids = (rows: Record<string, unknown>[]) => rows.map((r) => String(r.id));
      return {
        async search(q, k) {
          const rows = await table
            .query()
            .fullTextSearch(q.text)
            .nearestTo(q.vector)
            .distanceType("cosine")
            .rerank(rrf)
            .select(["id"])
            .limit(k)
            .toArray();
          return ids(rows);
        },
        async vectorOnly(vector, k) {
          const rows = await table
            .query()
            .nearestTo(vector)
            .distanceType("cosine")
            .select(["id"])
            .limit(k)
            .toArray();
          return ids(rows);
        },
        async close() {
          table.close();
          db.close();
        },
      };
    },
  };
}

export const lanceFlat = lanceEngine(false);
export const lanceIvfPq = lanceEngine(true);
