import type { SearchHit } from "../store/memory-store.ts";
import type { ChunkStart, SessionChunkDraft } from "./chunking.ts";

/** Where session transcripts are kept: messages (for idempotency and re-chunking) and chunks. */
export interface SessionStore {
  /**
   * Insert the messages whose key the session does not hold yet, in order, and return them
   * with their seq. Known keys are skipped: this is what makes a resend idempotent.
   */
  appendMessages(
    sessionId: string,
    meta: { instanceId: string; source: string | null },
    messages: NewSessionMessage[],
  ): Promise<{ inserted: StoredSessionMessage[]; duplicates: number }>;
  /** The session's last chunk, re-chunked when more messages arrive. */
  openChunk(sessionId: string): Promise<StoredChunkRef | null>;
  messagesFrom(sessionId: string, seq: number): Promise<StoredSessionMessage[]>;
  /** Replace the open chunk (if any) with these chunks, the last of which becomes the open one. */
  replaceTail(
    sessionId: string,
    replace: StoredChunkRef | null,
    chunks: { draft: SessionChunkDraft; vector: { modelId: string; vector: Float32Array } | null }[],
  ): Promise<void>;
  keywordSearch(terms: string[], k: number, filters: SessionFilters): Promise<SearchHit[]>;
  vectorSearch(
    vector: Float32Array,
    modelId: string,
    k: number,
    filters: SessionFilters,
  ): Promise<SearchHit[]>;
  getChunks(ids: string[]): Promise<SessionChunk[]>;
  chunksMissingVectors(modelId: string, limit: number): Promise<{ id: string; content: string }[]>;
  putChunkVectors(modelId: string, items: { id: string; vector: Float32Array }[]): Promise<void>;
  /** Drop messages and chunks older than the cutoff; sessions left empty go too. */
  deleteOlderThan(cutoffMs: number): Promise<{ messages: number; chunks: number }>;
  stats(): Promise<SessionStats>;
}

export interface NewSessionMessage {
  key: string;
  role: string;
  content: string;
  timestampMs: number;
}

export interface StoredSessionMessage {
  seq: number;
  role: string;
  content: string;
  timestampMs: number;
}

export interface StoredChunkRef {
  id: string;
  chunkIndex: number;
  start: ChunkStart;
}

export interface SessionFilters {
  sessionId?: string;
  instanceId?: string;
  after?: number;
  before?: number;
}

/** A chunk as the API returns it (TribalMemory's field names). */
export interface SessionChunk {
  chunk_id: string;
  session_id: string;
  instance_id: string;
  source: string | null;
  chunk_index: number;
  content: string;
  word_count: number;
  start_time: string;
  end_time: string;
}

export interface SessionStats {
  sessions: number;
  messages: number;
  chunks: number;
  embedded_chunks: number;
}
