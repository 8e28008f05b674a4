/**
 * The simplest glue a developer would write: SQLite FTS5 (bm25) + sqlite-vec (`vec0`, brute-force
 * cosine KNN), each asked for its top 40, fused with plain reciprocal rank fusion (k = 60).
 * The keyword query is the query's words, each quoted, OR-ed: no stopwords, no stemming, no
 * time, no thread: what the daemon's extra steps are measured against.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import * as sqliteVec from "sqlite-vec";
import { type PeerEngine, type PeerIndex, reciprocalRankFusion } from "./engine.ts";

const CANDIDATES = 40;

function openDb(dir: string): Database.Database {
  const db = new Database(join(dir, "glue.db"));
  sqliteVec.load(db);
  db.pragma("journal_mode = WAL");
  return db;
}

/** `"what" OR "did" OR …`: every word, quoted so FTS5 syntax in the text cannot break the query. */
export function ftsOrQuery(text: string): string | null {
  const words = [...new Set(text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [])];
  return words.length ? words.map((w) => `"${w}"`).join(" OR ") : null;
}

export const sqliteRrf: PeerEngine = {
  name: "sqlite-rrf",
  label: "SQLite FTS5 + sqlite-vec, plain RRF",
  vectors: true,
  onDisk: true,
  async build(dir, batches, info) {
    mkdirSync(dir, { recursive: true });
    const db = openDb(dir);
    db.exec(`
      CREATE TABLE docs (rowid INTEGER PRIMARY KEY, id TEXT NOT NULL);
      CREATE VIRTUAL TABLE docs_fts USING fts5(text);
      CREATE VIRTUAL TABLE docs_vec USING vec0(embedding float[${info.dims}] distance_metric=cosine);
    `);
    const doc = db.prepare("INSERT INTO docs (rowid, id) VALUES (?, ?)");
    const fts = db.prepare("INSERT INTO docs_fts (rowid, text) VALUES (?, ?)");
    const vec = db.prepare("INSERT INTO docs_vec (rowid, embedding) VALUES (?, ?)");
    let rowid = 0;
    const insert = db.transaction((docs: { id: string; text: string; vector: Float32Array }[]) => {
      for (const d of docs) {
        rowid++;
        const r = BigInt(rowid);
        doc.run(r, d.id);
        fts.run(r, d.text);
        vec.run(r, Buffer.from(d.vector.buffer, d.vector.byteOffset, d.vector.byteLength));
      }
    });
    for (const docs of batches) insert(docs);
    db.close();
  },
  async open(dir): Promise<PeerIndex> {
    const db = openDb(dir);
    const keyword = db.prepare(
      "SELECT d.id FROM docs_fts JOIN docs d ON d.rowid = docs_fts.rowid WHERE docs_fts MATCH ? ORDER BY bm25(docs_fts) LIMIT ?",
    );
    const knn = db.prepare(
      "SELECT d.id FROM (SELECT rowid, distance FROM docs_vec WHERE embedding MATCH ? AND k = ?) v JOIN docs d ON d.rowid = v.rowid ORDER BY v.distance",
    );
    const vectorIds = (v: Float32Array, k: number) =>
      (knn.all(Buffer.from(v.buffer, v.byteOffset, v.byteLength), k) as { id: string }[]).map((r) => r.id);
    return {
      async search(q, k) {
        const match = ftsOrQuery(q.text);
        const kw = match ? (keyword.all(match, CANDIDATES) as { id: string }[]).map((r) => r.id) : [];
        return reciprocalRankFusion([kw, vectorIds(q.vector, CANDIDATES)]).slice(0, k);
      },
      async vectorOnly(vector, k) {
        return vectorIds(vector, k);
      },
      async close() {
        db.close();
      },
    };
  },
};
