import type Database from "better-sqlite3";
import { fromBlob } from "./vectors.ts";

/**
 * Every vector of sqlite-vec's `vec_memories`, for rebuilding the in-memory index. Through the
 * virtual table a full read costs 2.6 s per 100k rows here (each row is cut out of its chunk
 * separately); reading the chunks themselves (1024 vectors, their rowids and a validity bitmap
 * per row of `vec_memories_chunks` / `vec_memories_vector_chunks00`, sqlite-vec 0.1's layout)
 * takes a fraction of that. A store whose tables have another layout is read the slow way.
 */
export function* readAllVectors(db: Database.Database, dims: number): Generator<[number, Float32Array]> {
  if (hasChunkLayout(db)) {
    yield* readChunks(db, dims);
    return;
  }
  const rows = db.prepare("SELECT rowid AS rid, embedding FROM vec_memories").raw().iterate() as Iterable<
    [number | bigint, Buffer]
  >;
  for (const [rid, blob] of rows) yield [Number(rid), fromBlob(blob)];
}

function hasChunkLayout(db: Database.Database): boolean {
  const columns = (table: string) =>
    (db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).map((c) => c.name).join(",");
  return (
    columns("vec_memories_chunks") === "chunk_id,size,validity,rowids" &&
    columns("vec_memories_vector_chunks00") === "rowid,vectors"
  );
}

function* readChunks(db: Database.Database, dims: number): Generator<[number, Float32Array]> {
  const rows = db
    .prepare(
      `SELECT c.size, c.validity, c.rowids, v.vectors FROM vec_memories_chunks c
       JOIN vec_memories_vector_chunks00 v ON v.rowid = c.chunk_id ORDER BY c.chunk_id`,
    )
    .raw()
    .iterate() as Iterable<[number, Buffer, Buffer, Buffer]>;
  for (const [size, validity, rowids, vectors] of rows) {
    const floats = fromBlob(vectors);
    for (let i = 0; i < size; i++) {
      if ((validity[i >>> 3] & (1 << (i & 7))) === 0) continue;
      yield [Number(rowids.readBigInt64LE(i * 8)), floats.subarray(i * dims, (i + 1) * dims)];
    }
  }
}
