import { readFileSync, statSync } from "node:fs";
import { basename, relative } from "node:path";
import { markdownBlocks, splitFrontmatter, walkFiles } from "./markdown-notes.ts";
import { entityMention, isoTime, type PeerImport, type PeerMemory, relationWords } from "./peer-memory.ts";

/**
 * A basic-memory folder: markdown notes with YAML frontmatter (`title`, `type`, `tags`,
 * `permalink`), observations as list items `- [category] text #tag (context)` and relations as
 * `- relation_type [[Target]] (context)`. Each observation becomes a memory about the note
 * ("Coffee Brewing: Pour over gives more clarity", tagged with its category and #tags), each
 * relation a memory about both notes ("Coffee Brewing relates to Coffee Origins"), and the
 * note's remaining prose, if any, one memory. The note's tags and type (other than the default
 * `note`) tag all of them.
 */
export const BASIC_MEMORY_FORMAT = "basic-memory";

/** `[category] text`; basic-memory's own rule: no brackets or parentheses in the category. */
const OBSERVATION = /^\[([^[\]()]+)\]\s+(.+)$/s;
/** `type [[Target]] (context)`: a one-word (or quoted) type, the link, at most a context. */
const RELATION = /^("[^"]+"|'[^']+'|\S+)\s+\[\[([^\]]+)\]\](?:\s*\(([^)]*)\))?\s*$/;

/** Task items (`[ ]`, `[x]`, `[-]`, `[/]`, `[?]`…) are not observations. */
function isTaskMarker(category: string): boolean {
  return category.trim().length <= 1 && !/^[a-wyzA-WYZ0-9]$/.test(category.trim());
}

/** `text #a #b/c (why)` → text without tags and context, the tags, the context. */
function splitObservation(text: string): { text: string; tags: string[]; context: string | null } {
  let body = text.trim();
  let context: string | null = null;
  const ctx = /\s*\(([^()]*)\)$/.exec(body);
  if (ctx) {
    context = ctx[1].trim() || null;
    body = body.slice(0, ctx.index);
  }
  const tags: string[] = [];
  const words = body.split(/\s+/).filter((w) => {
    if (!w.startsWith("#") || w.length < 2) return true;
    tags.push(...w.split("#").filter(Boolean));
    return false;
  });
  return { text: words.join(" ").trim(), tags, context };
}

function noteTags(value: unknown): string[] {
  if (Array.isArray(value)) return value.filter((t): t is string => typeof t === "string");
  if (typeof value === "string") return value.split(",").map((t) => t.trim().replace(/^#/, ""));
  return [];
}

export function readBasicMemory(path: string): PeerImport {
  const isDir = statSync(path).isDirectory();
  const files = isDir ? walkFiles(path, (p) => p.endsWith(".md")) : [path];
  const memories: PeerMemory[] = [];
  for (const file of files) {
    const name = isDir ? relative(path, file) : basename(file);
    const { data, body, bodyLine } = splitFrontmatter(readFileSync(file, "utf8"), name, BASIC_MEMORY_FORMAT);
    const title =
      typeof data.title === "string" && data.title.trim() ? data.title.trim() : basename(file, ".md");
    const permalink =
      typeof data.permalink === "string" && data.permalink.trim()
        ? data.permalink.trim()
        : name.replace(/\.md$/, "").toLowerCase().replace(/\s+/g, "-");
    const type = typeof data.type === "string" ? data.type.trim() : "note";
    const shared = [...noteTags(data.tags), ...(type && type !== "note" ? [type] : [])];
    const created = isoTime(data.created ?? data.date);
    const updated = isoTime(data.modified ?? data.updated);
    const who = entityMention(title);
    const source = { permalink, title, note_type: type };
    const prose: string[] = [];
    let proseLine = 0;
    for (const block of markdownBlocks(body, bodyLine)) {
      const origin = `${name}:${block.line}`;
      const obs = block.kind === "item" ? OBSERVATION.exec(block.text) : null;
      if (obs && !isTaskMarker(obs[1])) {
        const category = obs[1].trim();
        const o = splitObservation(obs[2]);
        if (!o.text) continue;
        memories.push({
          kind: "observation",
          key: `${permalink}\u0000observation\u0000${category}\u0000${o.text}`,
          content: `${who}: ${o.text}`,
          tags: [...shared, category, ...o.tags],
          entities: [title],
          origin,
          createdAt: created,
          updatedAt: updated,
          source: { ...source, category, ...(o.context ? { observation_context: o.context } : {}) },
        });
        continue;
      }
      const rel = block.kind === "item" ? RELATION.exec(block.text) : null;
      if (rel) {
        const relType = rel[1].replace(/^["']|["']$/g, "");
        const target = rel[2].split("|")[0].trim();
        memories.push({
          kind: "relation",
          key: `${permalink}\u0000relation\u0000${relType}\u0000${target}`,
          content: `${who} ${relationWords(relType)} ${entityMention(target)}`,
          tags: [...shared, "relation", relType],
          entities: [title, target],
          origin,
          createdAt: created,
          updatedAt: updated,
          source: {
            ...source,
            relation_type: relType,
            ...(rel[3]?.trim() ? { relation_context: rel[3].trim() } : {}),
          },
        });
        continue;
      }
      proseLine ||= block.line;
      prose.push(block.kind === "item" ? `- ${block.text}` : block.text);
    }
    if (prose.length) {
      const text = prose.join("\n\n");
      memories.push({
        kind: "note",
        key: `${permalink}\u0000note\u0000${text}`,
        content: `${who}\n\n${text}`,
        tags: shared,
        entities: [title],
        origin: `${name}:${proseLine}`,
        createdAt: created,
        updatedAt: updated,
        source,
      });
    }
  }
  return { memories, files: files.length };
}
