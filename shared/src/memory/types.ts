/** A memory as every API and store sees it: the materialised form of its Automerge document. */
export interface Memory {
  id: string;
  content: string;
  source_type: string;
  source_instance: string;
  tags: string[];
  /** TribalMemory sent context as a string; we also accept a JSON object and return what was given. */
  context: string | Record<string, unknown> | null;
  confidence: number;
  supersedes: string | null;
  duplicate_of: string | null;
  created_at: string;
  updated_at: string;
  deleted: boolean;
  /**
   * When the memory stops being recalled (ISO time); absent: never. Once past, every read
   * hides it and the expiry sweep forgets it (shared/src/service/expiry-sweep.ts).
   */
  expires_at?: string;
  /**
   * The project it belongs to (a normalised git remote such as `github.com/acme/api`, or a
   * folder name): set from the MCP client's roots or `project` on remember; absent: none.
   */
  project?: string;
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
] as const;
export type SourceType = (typeof SOURCE_TYPES)[number];

/** A vector beside a memory: derived data, never part of the CRDT. */
export interface StoredEmbedding {
  modelId: string;
  /** SHA-256 of the content the vector was computed from; a changed content makes it stale. */
  contentHash: string;
  vector: Float32Array;
}

/** One Automerge change as it is logged and synced. */
export interface ChangeRecord {
  docId: string;
  hash: string;
  deps: string[];
  bytes: Uint8Array;
}

/** Filters shared by recall, list and export. Times are epoch milliseconds. */
export interface MemoryFilters {
  tags?: string[];
  sourceInstance?: string;
  sourceType?: string;
  after?: number;
  before?: number;
  includeSuperseded?: boolean;
  includeDeleted?: boolean;
  /** after/before also match a date the memory's text mentions (stores with event dates). */
  matchEventDates?: boolean;
  /** Only memories naming one of these case-folded entity names (stores with entities). */
  entityNames?: string[];
  /** Expired memories too (hidden by default). */
  includeExpired?: boolean;
  /** The time expiry is judged at, epoch ms (default: the store's clock). */
  activeAt?: number;
  /** Only memories expired at this time, epoch ms (the expiry sweep). */
  expiredAt?: number;
  /** Only memories of this project (recall's `scope: "project"`, service/project-scope.ts). */
  project?: string;
}
