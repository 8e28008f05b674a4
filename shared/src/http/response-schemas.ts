import { z } from "zod";

/**
 * Response schemas of the memory routes: what a client may rely on, published in the OpenAPI
 * document beside the request schemas. Objects are open (zod `object`, not strict): a server may add a
 * field without breaking a client, but never drop or retype one listed here. They are not run
 * on every answer (the serializer is plain JSON.stringify); `test/daemon/openapi.test.ts` parses
 * real answers of both servers with them.
 */
export const MemoryJson = z.object({
  id: z.string(),
  content: z.string(),
  source_type: z.string(),
  source_instance: z.string(),
  tags: z.array(z.string()),
  context: z.union([z.string(), z.record(z.string(), z.unknown())]).nullable(),
  confidence: z.number(),
  supersedes: z.string().nullable(),
  duplicate_of: z.string().nullable(),
  created_at: z.string(),
  updated_at: z.string(),
  deleted: z.boolean(),
  /** When it stops being recalled (remember's `expires_at` or `ttl`); absent: never. */
  expires_at: z.string().optional(),
  /** The project it belongs to (remember's `project`, or the MCP client's roots); absent: none. */
  project: z.string().optional(),
});

/** Secret redactions made before storing: how many of each kind (never the secrets). */
const Redactions = z.array(z.object({ kind: z.string(), count: z.number().int() }));

export const StoreResponse = z.object({
  success: z.literal(true),
  memory_id: z.string(),
  duplicate_of: z.string().nullable(),
  match: z.enum(["exact", "semantic"]).optional(),
  redacted: Redactions.optional(),
  memory: MemoryJson,
});

export const CorrectResponse = StoreResponse.extend({ supersedes: z.string().nullable() });

export const BatchResponse = z.object({
  success: z.literal(true),
  created: z.number().int(),
  duplicates: z.number().int(),
  results: z.array(
    z.object({
      memory_id: z.string(),
      duplicate_of: z.string().nullable(),
      status: z.string(),
      redacted: Redactions.optional(),
    }),
  ),
  redacted: Redactions,
});

/** One hit: a memory, or (with `sources` = sessions | all) a session chunk with `type: "session"`. */
const RecallHit = z.object({
  type: z.enum(["memory", "session"]).optional(),
  memory: MemoryJson.optional(),
  similarity_score: z.number(),
  signals: z.unknown().optional(),
});

export const RecallResponse = z.object({
  results: z.array(RecallHit),
  query: z.string(),
  total_time_ms: z.number(),
  /**
   * The period the query's time phrase names. `mode`: `filter` when recall kept to it, `boost`
   * when it held too few matches and the unfiltered ranking filled the rest (matches first).
   */
  time_filter: z
    .looseObject({
      phrase: z.string(),
      after: z.string(),
      before: z.string(),
      mode: z.enum(["filter", "boost"]),
    })
    .nullable()
    .optional(),
  retrieval: z.unknown().optional(),
});

export const ForgetResponse = z.object({
  success: z.literal(true),
  memory_id: z.string(),
  deleted: z.literal(true),
});

export const ListResponse = z.object({
  memories: z.array(MemoryJson),
  next_cursor: z.string().nullable(),
});

/** `GET /v1/memories/:id/history`: the memory's changes from its Automerge document, oldest first. */
export const HistoryResponse = z.object({
  memory_id: z.string(),
  /** The memory this one corrects, when it is a correction. */
  supersedes: z.string().nullable(),
  /** A live correction supersedes this memory: recall no longer returns it. */
  superseded: z.boolean(),
  /** The live corrections of this memory, newest first (empty unless superseded). */
  superseded_by: z.array(z.string()),
  history: z.array(
    z.object({
      hash: z.string(),
      actor: z.string(),
      /** The device of the actor where the server knows it (a sync device id, "this device"). */
      device: z.string().nullable(),
      seq: z.number().int(),
      at: z.string().nullable(),
      kind: z.enum(["created", "edited", "forgotten", "restored"]),
      agent: z.string().nullable(),
      content_clock: z.string().nullable(),
      changes: z.array(z.object({ field: z.string(), from: z.unknown(), to: z.unknown() })),
    }),
  ),
});
