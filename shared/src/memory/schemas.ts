import { z } from "zod";
import { TTL_PATTERN } from "./expiry.ts";
import { isMemoryId } from "./ids.ts";
import { MAX_SOURCE_INSTANCE_CHARS, MAX_TAG_CHARS, MAX_TAGS } from "./size-policy.ts";
import { SOURCE_TYPES } from "./types.ts";

/**
 * Request schemas of the /v1 API: the one place input is validated. Field names are
 * TribalMemory's, so its clients keep working; objects are strict, so a misspelt field is
 * an error instead of being silently ignored.
 */
const memoryId = z.string().refine(isMemoryId, { message: "must be a memory id (UUID)" });
const tag = z.string().trim().min(1).max(MAX_TAG_CHARS);
const tags = z.array(tag).max(MAX_TAGS);
const sourceInstance = z.string().trim().min(1).max(MAX_SOURCE_INSTANCE_CHARS);
/**
 * Shape only: bytes and depth are checked by the service (checkContext, size-policy.ts) with
 * their own codes, without recursion, on every write path (API, import, correction).
 */
const context = z.union([z.string(), z.record(z.string(), z.unknown())]).nullable();
/** A project name: case-folded, so `Acme/API` and `acme/api` are one project. */
const project = z.string().trim().toLowerCase().min(1).max(200);
/** ISO 8601 or natural language ("last week"), resolved by the service. */
const timeBound = z.string().trim().min(1).max(200);

export const RememberBody = z.strictObject({
  content: z.string(),
  source_type: z.enum(SOURCE_TYPES).default("auto_capture"),
  source_instance: sourceInstance.optional(),
  tags: tags.nullable().optional(),
  context: context.optional(),
  confidence: z.number().min(0).max(1).optional(),
  supersedes: memoryId.nullable().optional(),
  skip_dedup: z.boolean().optional(),
  /** When it stops being recalled (ISO 8601, in the future); or `ttl`, not both (memory/expiry.ts). */
  expires_at: z.string().trim().min(1).max(64).nullable().optional(),
  /** Lifetime: seconds, or a duration such as "12h", "7d", "2w". */
  ttl: z
    .union([
      z.number().int().positive(),
      z.string().regex(TTL_PATTERN, 'must be seconds or a duration such as "7d"'),
    ])
    .nullable()
    .optional(),
  /** The project it belongs to (a git remote such as `github.com/acme/api`, or a folder name). */
  project: project.nullable().optional(),
});
export type RememberBody = z.infer<typeof RememberBody>;

export const RememberBatchBody = z.strictObject({
  memories: z.array(RememberBody).min(1).max(1000),
});

/**
 * Results scoring below this are dropped unless the request says otherwise: on both recall sets
 * it costs no answerable recall@5 and drops the tail of weak matches (scores of 0.003 that
 * a no-answer query used to get back). See the sweep in `pnpm bench recall-quality`.
 */
export const DEFAULT_MIN_RELEVANCE = 0.1;

export const RecallBody = z.strictObject({
  query: z.string().trim().min(1).max(4096),
  limit: z.number().int().min(1).max(100).default(5),
  min_relevance: z.number().min(0).max(1).default(DEFAULT_MIN_RELEVANCE),
  tags: tags.nullable().optional(),
  source_instance: sourceInstance.optional(),
  source_type: z.enum(SOURCE_TYPES).optional(),
  after: timeBound.nullable().optional(),
  before: timeBound.nullable().optional(),
  include_superseded: z.boolean().default(false),
  sources: z.enum(["memories", "sessions", "all"]).default("memories"),
  /** Include the pipeline's steps (`explain`) in the response. */
  explain: z.boolean().optional(),
  /** The caller's project: its memories come first, then the rest (service/project-scope.ts). */
  project: project.nullable().optional(),
  /** `project`: only the project's memories; `all`: every memory by score alone. */
  scope: z.enum(["project", "all"]).optional(),
});
export type RecallBody = z.infer<typeof RecallBody>;

export const CorrectBody = z.strictObject({
  original_id: memoryId,
  corrected_content: z.string(),
  context: context.optional(),
  tags: tags.nullable().optional(),
  source_instance: sourceInstance.optional(),
});
export type CorrectBody = z.infer<typeof CorrectBody>;

export const ForgetBody = z.strictObject({ memory_id: memoryId });

export const MemoryIdParams = z.strictObject({ id: memoryId });

const csv = z
  .string()
  .transform((s) =>
    s
      .split(",")
      .map((t) => t.trim())
      .filter(Boolean),
  )
  .pipe(tags);
const boolParam = z.enum(["true", "false", "1", "0"]).transform((v) => v === "true" || v === "1");

export const ListQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(200).optional(),
  tags: csv.optional(),
  source_instance: sourceInstance.optional(),
  source_type: z.enum(SOURCE_TYPES).optional(),
  after: timeBound.optional(),
  before: timeBound.optional(),
  include_deleted: boolParam.optional(),
  include_superseded: boolParam.optional(),
  include_expired: boolParam.optional(),
});

export const ExportBody = z.strictObject({
  tags: tags.nullable().optional(),
  date_from: timeBound.nullable().optional(),
  date_to: timeBound.nullable().optional(),
  include_embeddings: z.boolean().default(false),
  include_expired: z.boolean().default(false),
  /** At most this many entries, the newest (an MCP answer's bound); all when absent. */
  limit: z.number().int().min(1).optional(),
});

export const ExportQuery = z.strictObject({
  format: z.enum(["bundle", "jsonl"]).default("jsonl"),
  tags: csv.optional(),
  date_from: timeBound.optional(),
  date_to: timeBound.optional(),
  include_embeddings: boolParam.optional(),
  include_expired: boolParam.optional(),
});

export const ConflictMode = z.enum(["skip", "overwrite", "merge"]);
export type ConflictMode = z.infer<typeof ConflictMode>;

/** One memory in a TribalMemory bundle or a JSONL export line. */
export const BundleEntry = z.object({
  id: memoryId.optional(),
  content: z.string(),
  embedding: z.array(z.number()).nullable().optional(),
  source_instance: z.string().max(200).nullable().optional(),
  source_type: z.string().max(50).nullable().optional(),
  created_at: z.string().max(64).nullable().optional(),
  updated_at: z.string().max(64).nullable().optional(),
  tags: z.array(z.string().max(MAX_TAG_CHARS)).max(MAX_TAGS).nullable().optional(),
  context: context.optional(),
  confidence: z.number().min(0).max(1).nullable().optional(),
  supersedes: memoryId.nullable().optional(),
  duplicate_of: memoryId.nullable().optional(),
  deleted: z.boolean().optional(),
  expires_at: z.string().max(64).nullable().optional(),
  project: project.nullable().optional(),
  related_to: z.array(z.string()).optional(),
});
export type BundleEntry = z.infer<typeof BundleEntry>;

export const BundleManifest = z.object({
  schema_version: z.string(),
  embedding: z
    .object({ model_name: z.string(), dimensions: z.number().int().positive() })
    .passthrough()
    .nullable()
    .optional(),
  memory_count: z.number().int().nonnegative().optional(),
  exported_at: z.string().optional(),
});
export type BundleManifest = z.infer<typeof BundleManifest>;

export const ImportBody = z.strictObject({
  bundle: z.object({ manifest: BundleManifest, entries: z.array(z.unknown()) }),
  conflict_resolution: ConflictMode.default("skip"),
  embedding_strategy: z.enum(["auto", "keep", "drop"]).default("auto"),
  dry_run: z.boolean().default(false),
  on_error: z.enum(["skip", "abort"]).default("skip"),
});

export const ImportJsonlQuery = z.strictObject({
  conflict_resolution: ConflictMode.default("skip"),
  embedding_strategy: z.enum(["auto", "keep", "drop"]).default("auto"),
  dry_run: boolParam.default(false),
  on_error: z.enum(["skip", "abort"]).default("skip"),
});
