import { sha256Hex } from "../memory/content.ts";
import type { SessionChunkDraft } from "./chunking.ts";
import type { SessionChunk } from "./session-store.ts";

/**
 * Chunk ids are the same on every store and stable: re-chunking the open tail keeps its id,
 * `sc_<sha256(session) prefix>_<index>`.
 */
export function sessionChunkId(sessionId: string, index: number): string {
  return `sc_${sha256Hex(sessionId).slice(0, 16)}_${index}`;
}

/**
 * A chunk row joined with its session, as either dialect returns it: the chunk's fields under
 * their column names (Postgres may send the bigint times as text).
 */
export type SessionChunkRow = Omit<SessionChunk, "chunk_id" | "start_time" | "end_time"> & {
  id: string;
  start_ms: number | string;
  end_ms: number | string;
};

/** The columns of `SessionChunkRow`, over chunk alias `c` and session alias `s`, in both dialects. */
export const SESSION_CHUNK_COLUMNS =
  "c.id, c.session_id, s.instance_id, s.source, c.chunk_index, c.content, c.word_count, c.start_ms, c.end_ms";

export function toSessionChunk(r: SessionChunkRow): SessionChunk {
  return {
    chunk_id: r.id,
    session_id: r.session_id,
    instance_id: r.instance_id,
    source: r.source,
    chunk_index: r.chunk_index,
    content: r.content,
    word_count: r.word_count,
    start_time: new Date(Number(r.start_ms)).toISOString(),
    end_time: new Date(Number(r.end_ms)).toISOString(),
  };
}

/**
 * The values of a chunk row, in both dialects' column order: id, session_id, chunk_index,
 * start_seq, start_token, last_seq, content, word_count, start_ms, end_ms.
 */
export function sessionChunkValues(
  sessionId: string,
  index: number,
  draft: SessionChunkDraft,
): [string, string, number, number, number, number, string, number, number, number] {
  return [
    sessionChunkId(sessionId, index),
    sessionId,
    index,
    draft.start.seq,
    draft.start.token,
    draft.lastSeq,
    draft.content,
    draft.wordCount,
    draft.startMs,
    draft.endMs,
  ];
}
