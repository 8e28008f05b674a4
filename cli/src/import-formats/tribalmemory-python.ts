import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { isMemoryId } from "@tribalmemory/shared/memory/ids";
import { z } from "zod";
import {
  entryLine,
  isoTime,
  malformed,
  type PeerImport,
  type PeerMemory,
  parseEntry,
  parseJsonFile,
} from "./peer-memory.ts";

/**
 * The Python TribalMemory's exports: its portable bundle `{manifest, entries}` (also inside
 * its `/v1/export` answer, `{success, memory_count, bundle}`), a bare array of entries, or
 * JSONL (one entry a line, an optional `{"manifest": …}` first line). Entries carry `id`,
 * `content`, `embedding`, `source_instance`, `source_type` (`legacy`, `unknown` too),
 * `created_at`/`updated_at` (Python's `isoformat()`, often without a zone: read as UTC),
 * `tags`, `context` (a string there), `confidence`, `supersedes`, `related_to`. The entry
 * keeps its own id, provenance and tags, so re-importing it meets the same memory.
 */
export const TRIBALMEMORY_PYTHON_FORMAT = "tribalmemory-python";

const Entry = z
  .object({
    id: z.string().trim().min(1).nullish(),
    memory_id: z.string().trim().min(1).nullish(),
    content: z.string().trim().min(1),
    tags: z.array(z.string()).nullish(),
    created_at: z.string().nullish(),
    updated_at: z.string().nullish(),
    supersedes: z.string().nullish(),
  })
  .passthrough();

/** What the daemon's own import reads besides id, content, tags and times: kept as they are. */
const KEPT = [
  "embedding",
  "source_instance",
  "source_type",
  "context",
  "confidence",
  "deleted",
  "related_to",
];

type Bundle = {
  bundle?: { manifest?: unknown; entries?: unknown[] };
  manifest?: unknown;
  entries?: unknown[];
};

/** An array, a bundle, or an export answer holding one; null for anything else. */
function asBundle(value: unknown): Bundle | null {
  if (Array.isArray(value)) return { entries: value };
  if (!value || typeof value !== "object" || !("entries" in value || "bundle" in value)) return null;
  const v = value as Bundle;
  return v.bundle ?? v;
}

/** The entries and manifest of a bundle, an export answer, an array, or JSONL. */
function entriesOf(
  text: string,
  file: string,
): { manifest?: unknown; items: { value: unknown; line: number }[] } {
  const trimmed = text.trimStart();
  const firstLine = trimmed.slice(0, trimmed.indexOf("\n") + 1 || undefined).trim();
  // Pretty-printed JSON is one document (with the line of a syntax error); a one-line file may
  // be a compact bundle or one JSONL entry.
  const looksWhole = trimmed.startsWith("[") || (trimmed.startsWith("{") && !firstLine.endsWith("}"));
  let doc: unknown = null;
  if (looksWhole) doc = parseJsonFile(text, file, TRIBALMEMORY_PYTHON_FORMAT);
  else if (!trimmed.trimEnd().includes("\n")) {
    try {
      doc = JSON.parse(trimmed);
    } catch {
      // not one document: read as JSONL below, which names the line
    }
  }
  const bundle = asBundle(doc);
  if (bundle || looksWhole) {
    if (!bundle || !Array.isArray(bundle.entries)) {
      throw malformed(
        `${file}:1`,
        "expected a bundle {manifest, entries: [...]}, an export answer {bundle: …}, an array of entries, or JSONL",
        TRIBALMEMORY_PYTHON_FORMAT,
        1,
      );
    }
    return {
      manifest: "manifest" in bundle ? bundle.manifest : undefined,
      items: bundle.entries.map((value) => ({ value, line: entryLine(text, value) })),
    };
  }
  let manifest: unknown;
  const items: { value: unknown; line: number }[] = [];
  text.split("\n").forEach((raw, i) => {
    if (!raw.trim()) return;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (err) {
      throw malformed(
        `${file}:${i + 1}`,
        `not JSON (${(err as Error).message})`,
        TRIBALMEMORY_PYTHON_FORMAT,
        i + 1,
      );
    }
    if (items.length === 0 && value && typeof value === "object" && "manifest" in value) {
      manifest = (value as { manifest: unknown }).manifest;
    } else items.push({ value, line: i + 1 });
  });
  return { manifest, items };
}

export function readTribalMemoryPython(path: string): PeerImport {
  const file = basename(path);
  const { manifest, items } = entriesOf(readFileSync(path, "utf8"), file);
  const memories: PeerMemory[] = items.map(({ value, line }, i) => {
    const e = parseEntry(Entry, value, {
      file,
      line,
      entry: `entry ${i + 1}`,
      format: TRIBALMEMORY_PYTHON_FORMAT,
    });
    const sourceId = e.id ?? e.memory_id ?? null;
    const passthrough: Record<string, unknown> = { context: null };
    for (const k of KEPT) if (e[k] !== undefined) passthrough[k] = e[k];
    if (e.supersedes && isMemoryId(e.supersedes.toLowerCase())) passthrough.supersedes = e.supersedes;
    return {
      kind: e.supersedes ? "correction" : "memory",
      key: sourceId ?? `content\u0000${e.content}`,
      content: e.content,
      tags: e.tags ?? [],
      entities: [],
      origin: `${file}:${line}`,
      // A UUID stays the memory's id; anything else is hashed into one (stableMemoryId).
      ...(sourceId && isMemoryId(sourceId.toLowerCase()) ? { id: sourceId.toLowerCase() } : {}),
      createdAt: isoTime(e.created_at),
      updatedAt: isoTime(e.updated_at),
      passthrough,
    };
  });
  return { memories, ...(manifest !== undefined ? { manifest } : {}) };
}
