/**
 * Builds `tm-fts5.c` (the keyword scorer `tm_bm25`) into a SQLite loadable extension:
 *   node daemon/native/build.ts [--out DIR] [--require]   # DIR defaults to daemon/native/build
 * (FTS_SCORER_DIR); with --require a failed build exits 1 (the test script's use).
 * with the machine's C compiler (`cc`, or $CC) against the SQLite headers better-sqlite3 ships.
 * Skipped when the library is newer than its source. Without a compiler it says so and exits 0:
 * the daemon then ranks with FTS5's own bm25(), which gives the same order, slower at scale
 * (fts-extension.ts).
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, renameSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { FTS_SCORER_DIR, FTS_SCORER_FILE } from "../src/store/fts-extension.ts";

const here = dirname(fileURLToPath(import.meta.url));
const source = join(here, "tm-fts5.c");

/** Builds into `outDir`; returns the library's path, or null (with why) when it could not. */
export function buildFtsExtension(outDir: string): { path: string | null; built?: boolean; why?: string } {
  const out = join(outDir, FTS_SCORER_FILE);
  if (existsSync(out) && statSync(out).mtimeMs >= statSync(source).mtimeMs)
    return { path: out, built: false };
  const headers = join(
    dirname(createRequire(join(here, "..", "package.json")).resolve("better-sqlite3/package.json")),
    "deps",
    "sqlite3",
  );
  const cc = process.env.CC || "cc";
  mkdirSync(outDir, { recursive: true });
  const partial = `${out}.${process.pid}`;
  const built = spawnSync(cc, ["-O2", "-fPIC", "-shared", "-I", headers, source, "-o", partial, "-lm"], {
    encoding: "utf8",
  });
  if (built.error || built.status !== 0)
    return { path: null, why: built.error ? `${cc}: ${built.error.message}` : built.stderr.trim() };
  renameSync(partial, out);
  return { path: out, built: true };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { out: { type: "string" }, require: { type: "boolean" } } });
  const result = buildFtsExtension(resolve(values.out ?? join(here, "..", "..", FTS_SCORER_DIR)));
  if (result.built) console.log(`[native] built ${result.path}`);
  else if (!result.path) {
    console.warn(
      `[native] WARNING: the keyword scorer did not build (${result.why}); the daemon will rank with ` +
        "FTS5's bm25(), slower past ~100k memories. Install a C compiler (Debian: apt install gcc) and run " +
        "node daemon/native/build.ts",
    );
    if (values.require) process.exit(1);
  }
}
