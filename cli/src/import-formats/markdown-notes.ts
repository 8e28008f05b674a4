import { readdirSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml, YAMLParseError } from "yaml";
import { malformed } from "./peer-memory.ts";

/**
 * Reading markdown memory files (Claude Code's CLAUDE.md and memory folder, basic-memory
 * notes): YAML frontmatter, then the body as blocks (list items and paragraphs) under their
 * headings, each with the line it starts on.
 */

export interface Frontmatter {
  data: Record<string, unknown>;
  body: string;
  /** Line (1-based) of the body's first line in the file. */
  bodyLine: number;
}

/** `---\nyaml\n---\nbody`: the YAML as an object (empty without frontmatter) and the body. */
export function splitFrontmatter(text: string, file: string, format: string): Frontmatter {
  const normalized = text.replace(/\r\n?/g, "\n").replace(/^\uFEFF/, "");
  const m = /^---[ \t]*\n([\s\S]*?)\n?---[ \t]*(?:\n|$)/.exec(normalized);
  if (!m) return { data: {}, body: normalized, bodyLine: 1 };
  let data: unknown;
  try {
    data = parseYaml(m[1]);
  } catch (err) {
    const line = err instanceof YAMLParseError ? (err.linePos?.[0].line ?? 0) + 1 : 1;
    const what = (err as Error).message.split("\n")[0];
    throw malformed(`${file}:${line}`, `frontmatter is not valid YAML (${what})`, format, line);
  }
  if (data !== null && data !== undefined && (typeof data !== "object" || Array.isArray(data))) {
    throw malformed(`${file}:2`, "frontmatter is not a YAML mapping (key: value lines)", format, 2);
  }
  const bodyLine = m[0].split("\n").length - (m[0].endsWith("\n") ? 0 : 1);
  return { data: (data ?? {}) as Record<string, unknown>, body: normalized.slice(m[0].length), bodyLine };
}

export interface MarkdownBlock {
  kind: "item" | "paragraph";
  /** The text: a list item without its marker (continuation lines joined), or a paragraph. */
  text: string;
  line: number;
  /** Headings above it, outermost first. */
  headings: string[];
}

const HEADING = /^(#{1,6})\s+(.*?)\s*#*\s*$/;
const ITEM = /^([-*+]|\d+[.)])\s+(.*)$/;
const FENCE = /^(```|~~~)/;

/**
 * The body's top-level list items and paragraphs. A nested item or an indented line belongs
 * to the item above it; a fenced code block belongs to the block it sits in.
 */
export function markdownBlocks(body: string, firstLine = 1): MarkdownBlock[] {
  const blocks: MarkdownBlock[] = [];
  const headings: string[] = [];
  let current: MarkdownBlock | null = null;
  let fence: string | null = null;
  const close = () => {
    const text = current?.text.trim();
    // An HTML comment (`<!-- … -->`, notes to the editor) is not a fact.
    if (current && text && !/^<!--[\s\S]*-->$/.test(text)) blocks.push({ ...current, text });
    current = null;
  };
  const lines = body.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i];
    const line = firstLine + i;
    if (fence) {
      if (current) (current as MarkdownBlock).text += `\n${raw}`;
      if (raw.trim().startsWith(fence)) fence = null;
      continue;
    }
    const fenceOpen = FENCE.exec(raw.trim());
    if (fenceOpen) {
      fence = fenceOpen[1];
      if (!current) current = { kind: "paragraph", text: raw, line, headings: headings.filter(Boolean) };
      else (current as MarkdownBlock).text += `\n${raw}`;
      continue;
    }
    if (!raw.trim()) {
      // A blank line ends a paragraph; a list item may go on after one (indented text).
      if (current && (current as MarkdownBlock).kind === "paragraph") close();
      continue;
    }
    const heading = HEADING.exec(raw);
    if (heading) {
      close();
      headings.length = Math.min(headings.length, heading[1].length - 1);
      while (headings.length < heading[1].length - 1) headings.push("");
      headings.push(heading[2]);
      continue;
    }
    const indented = /^\s/.test(raw);
    const item = indented ? null : ITEM.exec(raw);
    if (item) {
      close();
      current = { kind: "item", text: item[2], line, headings: headings.filter(Boolean) };
      continue;
    }
    if (current) {
      (current as MarkdownBlock).text += `\n${indented && current.kind === "item" ? raw : raw.trim()}`;
      continue;
    }
    current = { kind: "paragraph", text: raw.trim(), line, headings: headings.filter(Boolean) };
  }
  close();
  return blocks;
}

/** Every file under `dir` whose path `wanted` accepts (not in .git or node_modules; `.claude` is wanted). */
export function walkFiles(dir: string, wanted: (path: string) => boolean, depth = 8): string[] {
  if (depth < 0) return [];
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
    a.name.localeCompare(b.name),
  )) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name === "node_modules" || entry.name === ".git") continue;
      out.push(...walkFiles(path, wanted, depth - 1));
    } else if (entry.isFile() && wanted(path)) out.push(path);
  }
  return out;
}
