import { createHash } from "node:crypto";
import { extractEntities, foldName } from "@tribalmemory/shared/entities/extract";
import { TribalError } from "@tribalmemory/shared/errors";
import { MAX_TAG_CHARS, MAX_TAGS } from "@tribalmemory/shared/memory/size-policy";
import type { z } from "zod";

/**
 * The one mapping every peer format goes through: a parser turns its file into `PeerMemory`
 * records (what the fact says, what kind it is, where it came from), and `toImportEntry`
 * turns each into an entry of TribalMemory's own JSONL import, so the daemon's import route
 * validates, dedupes and writes them exactly as it does its own exports.
 *
 * Idempotence: each record gets an id derived from its format and a key stable across runs
 * (the source's own id, or what identifies the fact in its file), so a second import of the
 * same file meets every id already stored and skips it (conflict_resolution=skip). Content
 * the daemon already holds under another id is skipped by its exact-duplicate rule.
 */

/** A fact read from another memory tool's file, before it becomes an import entry. */
export interface PeerMemory {
  /** What it was in the source (observation, relation, bullet, note, memory…): counted per kind. */
  kind: string;
  /** Identifies this fact within its format across runs; hashed into the memory id. */
  key: string;
  content: string;
  tags: string[];
  /** Names of the entities it is about, as written in the source. */
  entities: string[];
  /** `file:line` (or `file: entry N`) for messages about this record. */
  origin: string;
  createdAt?: string | null;
  updatedAt?: string | null;
  /** Kept as it is: a TribalMemory export's own id, so re-importing meets the same memory. */
  id?: string;
  /** Source fields kept for provenance (the source's id, user, category…), stored in `context`. */
  source?: Record<string, unknown>;
  /** Fields of TribalMemory's own entry that a TribalMemory export carries (source_type, supersedes…). */
  passthrough?: Record<string, unknown>;
}

/** What a format reader found: the records, and a manifest line when the source has one. */
export interface PeerImport {
  memories: PeerMemory[];
  /** A TribalMemory bundle's manifest (embedding model), so matching vectors are kept. */
  manifest?: unknown;
  /** Files read (a folder import reads several). */
  files?: number;
}

/**
 * A UUID (RFC 9562 version 8: application-defined bits) from SHA-256 of the format and the
 * record's key. The same record always maps to the same id; two formats never share one.
 */
export function stableMemoryId(format: string, key: string): string {
  const b = createHash("sha256").update(`${format}\u0000${key}`, "utf8").digest().subarray(0, 16);
  b[6] = (b[6] & 0x0f) | 0x80;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = b.toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * How to write an entity's name in content so the daemon's entity index (which reads names
 * from content) finds it: as written when extraction already sees it, else with `_` and `-`
 * as spaces ("John_Smith" → "John Smith", which extraction reads as a person), or capitalised.
 */
export function entityMention(name: string): string {
  const trimmed = name.trim();
  const spaced = trimmed.replace(/[_-]+/g, " ");
  // mem0's graph keeps names lower-case ("alice_smith"): capitalised, extraction reads a person.
  const capitalised = spaced.replace(/\b\p{Ll}/gu, (c) => c.toUpperCase());
  for (const candidate of [trimmed, trimmed.replace(/[_]+/g, " "), spaced, capitalised]) {
    const folded = foldName(candidate);
    if (extractEntities(candidate).some((e) => e.name === folded)) return candidate;
  }
  return trimmed;
}

/** A relation type as words: "works_at" → "works at". */
export function relationWords(type: string): string {
  return type.replace(/[_-]+/g, " ").replace(/\s+/g, " ").trim();
}

/** A tag as the import stores it: trimmed, inner whitespace as `-`, within the tag size cap. */
export function cleanTag(tag: string): string {
  return tag.trim().replace(/\s+/g, "-").slice(0, MAX_TAG_CHARS);
}

/**
 * An ISO timestamp, or null. A zone-less one (Python's `datetime.utcnow().isoformat()`) is
 * read as UTC, not as this machine's local time.
 */
export function isoTime(value: unknown): string | null {
  if (typeof value !== "string" || !value.trim()) return null;
  const t = value.trim();
  const zoneless = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(t);
  const ms = Date.parse(zoneless ? `${t.replace(" ", "T")}Z` : t);
  return Number.isNaN(ms) ? null : new Date(ms).toISOString();
}

/** An entry of TribalMemory's JSONL import (BundleEntry) for one peer record. */
export function toImportEntry(format: string, m: PeerMemory): Record<string, unknown> {
  // A TribalMemory export keeps its tags as they were; a peer's memories are tagged with the peer.
  const all = m.passthrough ? m.tags : [format, ...m.tags];
  const tags = [...new Set(all.map(cleanTag).filter(Boolean))].slice(0, MAX_TAGS);
  const entities = [...new Set(m.entities.map((e) => e.trim()).filter(Boolean))];
  const passthroughContext = m.passthrough?.context;
  const context =
    passthroughContext !== undefined
      ? passthroughContext
      : {
          imported_from: format,
          ...(entities.length ? { entities } : {}),
          ...(m.source ?? {}),
        };
  return {
    ...(m.passthrough ?? {}),
    id: m.id ?? stableMemoryId(format, m.key),
    content: m.content,
    tags,
    context,
    ...(m.createdAt ? { created_at: m.createdAt } : {}),
    ...(m.updatedAt ? { updated_at: m.updatedAt } : {}),
  };
}

/**
 * A file that cannot be read as its format: IMPORT_INVALID with where, what, and what to do.
 * Nothing is imported from it (the whole file is parsed before the first write).
 */
export function malformed(origin: string, what: string, format: string, line?: number): TribalError {
  return new TribalError(
    "IMPORT_INVALID",
    `${origin}: ${what}. Nothing was imported; fix that line (or check that --from ${format} is this file's format) and run the import again.`,
    line !== undefined ? { line } : undefined,
  );
}

/** `value` read by `schema`, or IMPORT_INVALID naming the entry, its first bad field and its line. */
export function parseEntry<T>(
  schema: z.ZodType<T>,
  value: unknown,
  at: { file: string; line: number; entry: string; format: string },
): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const what = `${at.entry}: ${issue.path.join(".") || "entry"}: ${issue.message}`;
  throw malformed(`${at.file}:${at.line}`, what, at.format, at.line);
}

/** `text`'s line (1-based) at character `index`. */
export function lineAt(text: string, index: number): number {
  let line = 1;
  for (let i = 0; i < index && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/** The line where an entry of a JSON file starts: where its id first appears, else 1. */
export function entryLine(text: string, entry: unknown): number {
  const key = (entry as { id?: unknown } | null)?.id;
  const at = key === undefined || key === null ? -1 : text.indexOf(JSON.stringify(key));
  return at < 0 ? 1 : lineAt(text, at);
}

/**
 * JSON.parse with a line number in the error: V8 reports the character position, and a user
 * editing a file wants the line.
 */
export function parseJsonFile(text: string, file: string, format: string): unknown {
  try {
    return JSON.parse(text.replace(/^\uFEFF/, ""));
  } catch (err) {
    const msg = (err as Error).message;
    const pos = /position (\d+)/.exec(msg);
    const line = pos ? lineAt(text, Number(pos[1])) : 1;
    throw malformed(
      `${file}:${line}`,
      `not valid JSON (${msg.replace(/ in JSON at position.*$/, "")})`,
      format,
      line,
    );
  }
}
