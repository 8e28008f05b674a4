import { existsSync } from "node:fs";
import { installFile } from "@tribalmemory/shared/config/install-layout";
import type Database from "better-sqlite3";

/**
 * The keyword scorer `tm_bm25` (daemon/native/tm-fts5.c): FTS5's bm25() with each term's
 * document count given instead of counted again by every statement (keyword-rank.ts). Built by
 * `node daemon/native/build.ts` (bootstrap and the package build run it) where a C compiler is;
 * without it, or with TRIBAL_MEMORY_FTS_SCORER=bm25, keyword search ranks with bm25(): the
 * same order, slower past ~100k memories.
 */
export const FTS_SCORER_DIR = "daemon/native/build";
export const FTS_SCORER_FILE = "tm-fts5.so";

/** Loads the scorer into a connection; false (never an error) when it is not there. */
export function loadFtsScorer(db: Database.Database): boolean {
  if (process.env.TRIBAL_MEMORY_FTS_SCORER === "bm25") return false;
  const path = installFile(`${FTS_SCORER_DIR}/${FTS_SCORER_FILE}`);
  if (!existsSync(path)) return false;
  try {
    db.loadExtension(path); // entry point sqlite3_tmfts_init, from the file name
    return true;
  } catch {
    return false;
  }
}

/** Whether the connection has the scorer (`tm_bm25`). */
export function hasFtsScorer(db: Database.Database): boolean {
  try {
    db.prepare("SELECT tm_bm25(memories_fts, '', 0) FROM memories_fts WHERE 0").get();
    return true;
  } catch {
    return false;
  }
}
