/** What the memory routes answer (shared/src/http/response-schemas.ts). */
export interface Memory {
  id: string;
  content: string;
  source_type: string;
  source_instance: string;
  tags: string[];
  context: string | Record<string, unknown> | null;
  confidence: number;
  supersedes: string | null;
  duplicate_of: string | null;
  created_at: string;
  updated_at: string;
  deleted: boolean;
}

export interface RecallAnswer {
  results: { type?: "memory" | "session"; memory?: Memory; similarity_score: number }[];
  query: string;
  total_time_ms: number;
  time_filter?: { phrase: string; after: string; before: string } | null;
}

export interface ListAnswer {
  memories: Memory[];
  next_cursor: string | null;
}

export const SOURCE_TYPES = [
  "user_explicit",
  "auto_capture",
  "correction",
  "cross_instance",
  "session",
  "import",
  "legacy",
  "unknown",
];
