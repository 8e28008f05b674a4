import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const SRC = fileURLToPath(new URL("..", import.meta.url));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(full);
    return e.name.endsWith(".ts") && !e.name.endsWith(".test.ts") ? [full] : [];
  });
}

/** The index just past the parenthesis that closes the one at `open` (strings and comments skipped). */
function closingParen(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    const c = text[i];
    if (c === '"' || c === "'" || c === "`") {
      for (i++; i < text.length && text[i] !== c; i++) if (text[i] === "\\") i++;
    } else if (c === "/" && text[i + 1] === "/") {
      i = text.indexOf("\n", i);
    } else if (c === "/" && text[i + 1] === "*") {
      i = text.indexOf("*/", i) + 1;
    } else if (c === "(") depth++;
    else if (c === ")" && --depth === 0) return i + 1;
  }
  return text.length;
}

/**
 * Every write transaction of the daemon's connections begins IMMEDIATE. The store's file has a
 * second writer (the term-stats build, from a worker's connection); a deferred transaction that
 * read first could not then take the lock, failed at once with SQLITE_BUSY instead of waiting,
 * and a remember answered 500 (second-writer.test.ts). better-sqlite3's `db.transaction(fn)()`
 * is deferred: each call site must use `.immediate(…)`, directly or through the variable it
 * keeps the transaction in.
 */
describe("the daemon's write transactions", () => {
  it("all begin IMMEDIATE", () => {
    const deferred: string[] = [];
    let sites = 0;
    for (const file of sourceFiles(SRC)) {
      const text = readFileSync(file, "utf8");
      for (const m of text.matchAll(/\.transaction\(/g)) {
        sites++;
        const after = text.slice(closingParen(text, (m.index ?? 0) + m[0].length - 1)).trimStart();
        if (after.startsWith(".immediate(")) continue;
        const kept = /const (\w+) =\s*[\w.]*\s*$/.exec(text.slice(0, m.index));
        const name = kept?.[1];
        const uses = name ? [...text.matchAll(new RegExp(`\\b${name}\\b(\\.\\w+)?\\(`, "g"))] : [];
        if (name && uses.length > 0 && uses.every((u) => u[1] === ".immediate")) continue;
        const line = text.slice(0, m.index).split("\n").length;
        deferred.push(`${relative(SRC, file)}:${line}`);
      }
    }
    expect(sites).toBeGreaterThanOrEqual(16);
    expect(deferred).toEqual([]);
  });
});
