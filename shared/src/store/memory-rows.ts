import { TribalError } from "../errors.ts";
import type { Memory } from "../memory/types.ts";

/**
 * The materialised columns of a memory row as either SQL dialect returns them: SQLite keeps
 * tags as JSON text and booleans as 0/1, Postgres as `text[]` and `boolean` (and may return a
 * numeric as text). One mapping, so both stores hand recall the same `Memory`.
 */
export interface MemoryRow {
  id: string;
  content: string;
  source_type: string;
  source_instance: string;
  tags: string | string[];
  context: string | null;
  confidence: number | string;
  supersedes: string | null;
  duplicate_of: string | null;
  created_at: string;
  updated_at: string;
  deleted: boolean | number;
  /** Epoch ms of `expires_at`; null when it never expires (bigint may come back as text). */
  expires_ms: number | string | null;
  project: string | null;
}

/** The columns of `MemoryRow`, over table alias `m`, in both dialects. */
export const MEMORY_COLUMNS =
  "m.id, m.content, m.source_type, m.source_instance, m.tags, m.context, m.confidence, m.supersedes, m.duplicate_of, m.created_at, m.updated_at, m.deleted, m.expires_ms, m.project";

/** Tags come back sorted (a set), whatever order the dialect stored them in. */
export function toMemory(r: MemoryRow): Memory {
  const tags = typeof r.tags === "string" ? (JSON.parse(r.tags) as string[]) : [...r.tags];
  return {
    id: r.id,
    content: r.content,
    source_type: r.source_type,
    source_instance: r.source_instance,
    tags: tags.sort(),
    context: r.context === null ? null : (JSON.parse(r.context) as Memory["context"]),
    confidence: Number(r.confidence),
    supersedes: r.supersedes,
    duplicate_of: r.duplicate_of,
    created_at: r.created_at,
    updated_at: r.updated_at,
    deleted: r.deleted === true || r.deleted === 1,
    ...(r.expires_ms === null ? {} : { expires_at: new Date(Number(r.expires_ms)).toISOString() }),
    ...(r.project ? { project: r.project } : {}),
  };
}

/** A memory is hidden (from search, the entity index and vectors) once forgotten or merged away. */
export function isHidden(m: Pick<Memory, "deleted" | "duplicate_of">): boolean {
  return m.deleted || m.duplicate_of !== null;
}

/**
 * Bump when entity or event-date extraction changes: every store (SQLite file, relay
 * workspace) rebuilds its entity index the next time it opens or reads it.
 * 2: a weekday alone ("on Friday") is the last one up to the day the memory was written.
 */
export const ENTITY_INDEX_VERSION = 2;

/**
 * A list cursor: the position after the last memory of a page, as (created_ms, tie-break).
 * The tie-break is whatever orders equal times in the store (SQLite's rowid, Postgres' id);
 * the encoding is one, so a cursor reads the same everywhere.
 */
export function encodeListCursor(createdMs: number, tieBreak: number | string): string {
  return Buffer.from(JSON.stringify([createdMs, tieBreak])).toString("base64url");
}

/** The position a cursor of `encodeListCursor` holds; a VALIDATION_FAILED error otherwise. */
export function decodeListCursor<K extends number | string>(
  cursor: string,
  isTieBreak: (v: unknown) => v is K,
): [number, K] {
  try {
    const v = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) as unknown;
    if (Array.isArray(v) && v.length === 2 && Number.isInteger(v[0]) && isTieBreak(v[1]))
      return v as [number, K];
  } catch {
    // fall through
  }
  throw new TribalError("VALIDATION_FAILED", "cursor is not one this server issued; start without it.", {
    issues: [{ path: "cursor", message: "invalid" }],
  });
}

export const isIntegerKey = (v: unknown): v is number => Number.isInteger(v);
export const isStringKey = (v: unknown): v is string => typeof v === "string";
