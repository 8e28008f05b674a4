import type { StatementOf } from "./sqlite-rid-lookup.ts";
import { fromBlob } from "./vectors.ts";

/**
 * The vectors sqlite-vec keeps for these memories, where `modelId` made them from the memory's
 * current text. An export with `include_embeddings` read them from the model again, one batch a
 * page: ~35 ms a memory with USE-lite here, hours at 1M.
 */
export function storedVectors(sql: StatementOf, ids: string[], modelId: string): Map<string, Float32Array> {
  if (!ids.length) return new Map();
  const rows = sql(
    `SELECT m.id, (SELECT v.embedding FROM vec_memories v WHERE v.rowid = m.rid) AS vector
       FROM memories m JOIN embeddings e ON e.rid = m.rid AND e.model_id = @model AND e.content_hash = m.content_hash
     WHERE m.id IN (SELECT value FROM json_each(@ids))`,
  )
    .raw()
    .all({ model: modelId, ids: JSON.stringify(ids) }) as [string, Buffer | null][];
  const out = new Map<string, Float32Array>();
  for (const [id, blob] of rows) if (blob) out.set(id, fromBlob(blob));
  return out;
}
