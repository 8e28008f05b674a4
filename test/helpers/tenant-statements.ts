import { TABLE_PLACEMENT } from "@tribalmemory/sync-server/store/distribution";

/**
 * A static check of one SQL statement against the Citus placement of its tables
 * (sync-server/src/store/distribution.ts): every distributed table it reads or writes must be
 * pinned to one tenant by its distribution column, so Citus routes the statement to the one
 * node holding that tenant. Pinned means, within the table's own SELECT (subqueries and UNION
 * branches are checked on their own):
 *
 * - `col = <value>`, `col = ANY(<value>)` or `col IN (…)`, qualified by the table's alias or
 *   not, where a value is a bind parameter (`$1`), a literal, or in a PL/pgSQL body one of
 *   `valuePattern`'s names (`p_workspace`, `NEW.workspace_id`);
 * - an INSERT that lists the column (Citus routes each row by its value);
 * - an equality with the distribution column of a table that is itself pinned
 *   (`e.workspace_id = m.workspace_id`, also from a correlated subquery), or `USING (col)`.
 *
 * It reads SQL with regular expressions, not a parser: it is written for this repository's
 * statements, and the test that uses it also proves that it refuses an unpinned one.
 */

const CLAUSE_WORDS = new Set(
  (
    "where join left right inner outer cross full natural on using group order limit offset set returning " +
    "for union intersect except having window values select default lateral as do with"
  ).split(" "),
);

/** Comments out, literals as `'?'`, lower case, one space between words. */
function normalize(sql: string): string {
  return sql
    .replace(/--[^\n]*/g, " ")
    .replace(/\/\*[\s\S]*?\*\//g, " ")
    .replace(/'(?:[^']|'')*'/g, "'?'")
    .toLowerCase()
    .replace(/\s+/g, " ");
}

/** The text of each SELECT level: a subquery becomes ` __sub__ ` in its parent, UNION branches split. */
function selectLevels(sql: string): string[] {
  const done: string[] = [];
  const stack: { text: string; sub: boolean }[] = [{ text: "", sub: true }];
  for (let i = 0; i < sql.length; i++) {
    const c = sql[i];
    if (c === "(") {
      const sub = /^\s*(select|with|insert|update|delete)\b/.test(sql.slice(i + 1, i + 12));
      stack.push({ text: sub ? "" : "(", sub });
    } else if (c === ")" && stack.length > 1) {
      const top = stack.pop() as { text: string; sub: boolean };
      const parent = stack[stack.length - 1];
      if (top.sub) {
        done.push(top.text);
        parent.text += " __sub__ ";
      } else parent.text += `${top.text})`;
    } else stack[stack.length - 1].text += c;
  }
  for (const level of stack) done.push(level.text);
  return done.flatMap((t) => t.split(/\b(?:union(?: all)?|intersect|except)\b/));
}

interface TableRef {
  level: number;
  table: string;
  alias: string;
  column: string;
  pinned: boolean;
}

/** `name [AS] alias` items of a FROM list, or the one table after JOIN/INTO/UPDATE. */
function tableRefs(text: string, level: number): TableRef[] {
  const refs: TableRef[] = [];
  const add = (table: string, alias: string | undefined) => {
    const placement = TABLE_PLACEMENT[table];
    if (placement?.kind !== "distributed") return;
    const named = alias && !CLAUSE_WORDS.has(alias) ? alias : table;
    refs.push({ level, table, alias: named, column: placement.column, pinned: false });
  };
  // In a FROM list a name followed by `(` is a function; after INTO it is a column list.
  const fromItem = /^\s*(?:only )?([a-z_][a-z0-9_]*)(?![\w\s]*\()(?:\s+(?:as\s+)?([a-z_][a-z0-9_]*))?/;
  const item = /^\s*(?:only )?([a-z_][a-z0-9_]*)(?:\s+(?:as\s+)?([a-z_][a-z0-9_]*))?/;
  for (const m of text.matchAll(/(?<!\b(?:do|for|key) )\b(from|join|into|update|using)\b/g)) {
    const rest = text.slice((m.index ?? 0) + m[0].length);
    if (m[1] === "from" || m[1] === "using") {
      const list = rest.split(
        /\b(?:where|join|left|right|inner|cross|full|natural|on|group|order|limit|returning|set|for|having)\b/,
      )[0];
      for (const part of list.split(",")) {
        const found = fromItem.exec(part);
        if (found) add(found[1], found[2]);
      }
    } else {
      const found = item.exec(rest);
      if (found) add(found[1], found[2]);
    }
  }
  return refs;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

export interface StatementCheck {
  /** Distributed tables the statement touches. */
  tables: string[];
  /** Those it does not pin to one tenant. */
  unpinned: string[];
}

/**
 * Check one statement. `valuePattern` adds what counts as a value beside `$n` and literals
 * (a regular expression source; PL/pgSQL variables in function bodies).
 */
export function checkStatement(sql: string, valuePattern?: string): StatementCheck {
  const text = normalize(sql);
  const levels = selectLevels(text);
  const refs = levels.flatMap((t, i) => tableRefs(t, i));
  const value = `(?:\\$\\d+|'\\?'${valuePattern ? `|${valuePattern}` : ""})(?:::[a-z_\\[\\]]+)?`;
  const colOf = (ref: TableRef, qualified: boolean) =>
    qualified ? `\\b${escapeRegExp(ref.alias)}\\.${ref.column}\\b` : `(?<![\\w.])${ref.column}\\b`;
  for (const ref of refs) {
    const own = levels[ref.level];
    for (const qualified of [true, false]) {
      const col = colOf(ref, qualified);
      if (
        new RegExp(`${col}\\s*(?:=\\s*(?:${value}|any\\s*\\()|in\\s*\\()`).test(own) ||
        new RegExp(`${value}\\s*=\\s*${col}`).test(own)
      )
        ref.pinned = true;
    }
    const insert = new RegExp(`\\binto ${escapeRegExp(ref.table)}(?: as [a-z_]+)? ?\\(([^)]*)\\)`).exec(own);
    if (insert?.[1].split(",").some((c) => c.trim() === ref.column)) ref.pinned = true;
  }
  // Joins: an equality with a pinned table's column, or USING (col) in the same level.
  for (let changed = true; changed; ) {
    changed = false;
    for (const ref of refs.filter((r) => !r.pinned)) {
      const col = colOf(ref, true);
      const joined = refs.some((other) => {
        if (!other.pinned || other === ref) return false;
        const otherCol = `\\b${escapeRegExp(other.alias)}\\.${other.column}\\b`;
        const equal = new RegExp(`${col}\\s*=\\s*${otherCol}|${otherCol}\\s*=\\s*${col}`).test(text);
        const using =
          other.level === ref.level &&
          other.column === ref.column &&
          new RegExp(`using \\([^)]*\\b${ref.column}\\b`).test(levels[ref.level]);
        return equal || using;
      });
      if (joined) {
        ref.pinned = true;
        changed = true;
      }
    }
  }
  const unique = (xs: string[]) => [...new Set(xs)].sort();
  return {
    tables: unique(refs.map((r) => r.table)),
    unpinned: unique(refs.filter((r) => !r.pinned).map((r) => r.table)),
  };
}
