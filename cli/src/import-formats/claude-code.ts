import { existsSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, join, relative } from "node:path";
import { TribalError } from "@tribalmemory/shared/errors";
import { markdownBlocks, splitFrontmatter, walkFiles } from "./markdown-notes.ts";
import type { PeerImport, PeerMemory } from "./peer-memory.ts";

/**
 * Claude Code's memory files: `CLAUDE.md` / `CLAUDE.local.md` (a project's, `.claude/CLAUDE.md`,
 * or the user's `~/.claude/CLAUDE.md`), rules (`.claude/rules/*.md`) and its auto memory, `~/.claude/projects/<project>/memory/
 * *.md` (a `MEMORY.md` index of links plus one fact a file, with `name`/`description`/`type`
 * frontmatter). Each list item and each paragraph becomes a memory, tagged with its project;
 * the heading above it is kept in `context.section`. The index's links to fact files are
 * skipped: the fact files themselves are imported.
 *
 * The path may be one file, a project folder, a `memory` folder, or `~/.claude` itself (its
 * CLAUDE.md and rules, scope "user", and every project's memory folder; not its plugins, whose
 * CLAUDE.md files are other people's).
 */
export const CLAUDE_CODE_FORMAT = "claude-code";

const MEMORY_FILE_NAMES = new Set(["CLAUDE.md", "CLAUDE.local.md"]);
/** `- [Title](fact-file.md) — hook`: a MEMORY.md line that points at a fact file. */
const POINTER = /^\[[^\]]*\]\(([^)\s]+\.md)\)/;

/** `projects/<slug>/memory/<file>.md`: Claude Code's auto memory for one project. */
function autoMemorySlug(file: string): string | null {
  const memoryDir = dirname(file);
  const projectDir = dirname(memoryDir);
  if (basename(memoryDir) !== "memory" || basename(dirname(projectDir)) !== "projects") return null;
  return basename(projectDir);
}

/** `.claude/rules/<file>.md`: instructions split by topic. */
function isRuleFile(file: string): boolean {
  return (
    file.endsWith(".md") &&
    basename(dirname(file)) === "rules" &&
    basename(dirname(dirname(file))) === ".claude"
  );
}

function isClaudeMemoryFile(file: string): boolean {
  return (
    MEMORY_FILE_NAMES.has(basename(file)) ||
    isRuleFile(file) ||
    (file.endsWith(".md") && autoMemorySlug(file) !== null)
  );
}

/** `~/.claude` (it holds `projects/`): the user's files and each project's auto memory, nothing else. */
function claudeHomeFiles(root: string): string[] {
  const top = [...MEMORY_FILE_NAMES].map((n) => join(root, n)).filter((f) => existsSync(f));
  const rules = existsSync(join(root, "rules"))
    ? walkFiles(join(root, "rules"), (f) => f.endsWith(".md"), 0)
    : [];
  return [...top, ...rules, ...walkFiles(join(root, "projects"), (f) => autoMemorySlug(f) !== null, 2)];
}

/**
 * The project a file belongs to. Auto memory folders are named after the project's path with
 * every `/` as `-` (`-home-ana-src-shop`), which cannot be decoded for certain; the name is
 * kept as it is, without the leading dash. `--project` names it instead.
 */
function projectOf(file: string): string {
  const slug = autoMemorySlug(file);
  if (slug !== null) return slug.replace(/^-+/, "") || "user";
  let dir = dirname(file);
  if (isRuleFile(file)) dir = dirname(dir);
  if (basename(dir) !== ".claude") return basename(dir);
  // ~/.claude (it holds projects/) is the user's own scope; <project>/.claude is the project's.
  return existsSync(join(dir, "projects")) ? "user" : basename(dirname(dir));
}

export function readClaudeCode(path: string, options: { project?: string } = {}): PeerImport {
  const isDir = statSync(path).isDirectory();
  const isClaudeHome = isDir && existsSync(join(path, "projects")) && basename(path) === ".claude";
  const files = !isDir ? [path] : isClaudeHome ? claudeHomeFiles(path) : walkFiles(path, isClaudeMemoryFile);
  if (!files.length) {
    throw new TribalError(
      "IMPORT_INVALID",
      `No Claude Code memory files under ${path}: expected CLAUDE.md, CLAUDE.local.md, .claude/rules/*.md or projects/<project>/memory/*.md. Pass the file itself, a project folder, or ~/.claude.`,
    );
  }
  const memories: PeerMemory[] = [];
  for (const file of files) {
    const name = isDir ? relative(path, file) : basename(file);
    const project = options.project ?? projectOf(file);
    const { data, body, bodyLine } = splitFrontmatter(readFileSync(file, "utf8"), name, CLAUDE_CODE_FORMAT);
    const meta =
      data.metadata && typeof data.metadata === "object" ? (data.metadata as Record<string, unknown>) : {};
    const factType =
      typeof data.type === "string" ? data.type : typeof meta.type === "string" ? meta.type : null;
    const fileKind = autoMemorySlug(file) !== null ? "auto-memory" : isRuleFile(file) ? "rules" : "claude-md";
    const tags = [`project:${project}`, fileKind, ...(factType ? [factType] : [])];
    const source = {
      project,
      file: name,
      ...(typeof data.name === "string" ? { memory_name: data.name } : {}),
    };
    const blocks = markdownBlocks(body, bodyLine);
    if (!blocks.length && typeof data.description === "string" && data.description.trim()) {
      blocks.push({ kind: "paragraph", text: data.description.trim(), line: 1, headings: [] });
    }
    for (const block of blocks) {
      const pointer = block.kind === "item" ? POINTER.exec(block.text) : null;
      if (pointer && existsSync(join(dirname(file), pointer[1]))) continue;
      const section = block.headings.join(" > ");
      memories.push({
        kind: block.kind === "item" ? "bullet" : "paragraph",
        key: `${project}\u0000${name}\u0000${block.text}`,
        content: block.text,
        tags,
        entities: [],
        origin: `${name}:${block.line}`,
        source: { ...source, ...(section ? { section } : {}) },
      });
    }
  }
  return { memories, files: files.length };
}
