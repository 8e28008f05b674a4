/**
 * Reading a config file so that every mistake is reported at once, each at its line and column:
 * a YAML syntax error, an unknown key (with the keys allowed there), a value of the wrong kind.
 * One CONFIG_INVALID error carries them all; fixing one line at a time, restart after restart,
 * is what this spares an operator.
 */
import { isMap, isSeq, LineCounter, type Node, parseDocument } from "yaml";
import { z } from "zod";
import { TribalError } from "../errors.ts";

export interface ConfigIssue {
  file: string;
  /** 1-based, as editors count. */
  line: number;
  column: number;
  /** Dotted key path (`server.port`, `sessions.folders.2`); empty for the document itself. */
  path: string;
  message: string;
}

/** Parse YAML `text` (read from `file`) against `schema`; throws CONFIG_INVALID listing every problem. */
export function parseConfigText<T>(file: string, text: string, schema: z.ZodType<T>): T {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const at = (offset: number) => lineCounter.linePos(offset);
  if (doc.errors.length) {
    // After a syntax error the tree is a guess: report the syntax, not what schema checks of a guess say.
    throw invalid(
      file,
      doc.errors.map((e) => ({ file, ...pos(at(e.pos[0])), path: "", message: firstLine(e.message) })),
    );
  }
  const raw: unknown = doc.toJS() ?? {};
  const parsed = schema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const issues: ConfigIssue[] = [];
  for (const issue of parsed.error.issues) {
    const path = issue.path.map((p) => (typeof p === "symbol" ? String(p.description) : p));
    if (issue.code === "unrecognized_keys") {
      const allowed = allowedKeys(schema, path);
      for (const key of issue.keys) {
        const found = locate(doc.contents, [...path, key]);
        issues.push({
          file,
          ...pos(at(found.key?.range?.[0] ?? found.node?.range?.[0] ?? 0)),
          path: [...path, key].join("."),
          message: `unknown key${allowed.length ? `; allowed here: ${allowed.join(", ")}` : ""}`,
        });
      }
      continue;
    }
    const found = locate(doc.contents, path);
    // A missing key points at its parent; a present one at its value (or its key when empty).
    const offset = found.complete
      ? (found.node?.range?.[0] ?? found.key?.range?.[0] ?? 0)
      : (found.key?.range?.[0] ?? found.node?.range?.[0] ?? 0);
    issues.push({ file, ...pos(at(offset)), path: path.join("."), message: issue.message });
  }
  issues.sort((a, b) => a.line - b.line || a.column - b.column);
  throw invalid(file, issues);
}

function invalid(file: string, issues: ConfigIssue[]): TribalError {
  const lines = issues.map(
    (i) => `  ${i.file}:${i.line}:${i.column}: ${i.path || "(document)"}: ${i.message}`,
  );
  return new TribalError(
    "CONFIG_INVALID",
    `Config ${file} has ${issues.length} problem${issues.length === 1 ? "" : "s"}; fix ${issues.length === 1 ? "it" : "them"} and start again:\n${lines.join("\n")}`,
    { issues },
  );
}

const pos = (p: { line: number; col: number }) => ({ line: p.line, column: p.col });
const firstLine = (s: string) => s.split("\n")[0];

/**
 * The YAML node at `path`, or the deepest one that exists (`complete: false`), with the key
 * node that names it (for an unknown key, its position is the one to show).
 */
function locate(
  root: unknown,
  path: (string | number)[],
): { node: Node | null; key: Node | null; complete: boolean } {
  let node = (root ?? null) as Node | null;
  let key: Node | null = null;
  for (const seg of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => {
        const k = p.key as { value?: unknown } | null;
        return k !== null && typeof k === "object" && String(k.value) === String(seg);
      });
      if (!pair) return { node, key, complete: false };
      key = pair.key as Node;
      node = (pair.value as Node | null) ?? null;
      if (!node) return { node: null, key, complete: true };
    } else if (isSeq(node) && typeof seg === "number" && node.items[seg]) {
      key = null;
      node = node.items[seg] as Node;
    } else {
      return { node, key, complete: false };
    }
  }
  return { node, key, complete: true };
}

/** The keys an object schema allows at `path`, to say what an unknown key could have been. */
function allowedKeys(schema: z.ZodType, path: (string | number)[]): string[] {
  let s: z.ZodType | undefined = unwrap(schema);
  for (const seg of path) {
    if (s instanceof z.ZodObject) s = (s.shape as Record<string, z.ZodType>)[String(seg)];
    else if (s instanceof z.ZodArray) s = s.element as z.ZodType;
    else return [];
    if (!s) return [];
    s = unwrap(s);
  }
  return s instanceof z.ZodObject ? Object.keys(s.shape) : [];
}

function unwrap(s: z.ZodType): z.ZodType {
  let t = s;
  while (t instanceof z.ZodOptional || t instanceof z.ZodNullable || t instanceof z.ZodDefault) {
    t = t.unwrap() as z.ZodType;
  }
  return t;
}
