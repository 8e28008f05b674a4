import { z } from "zod";

/**
 * Request schemas of the session routes (`/v1/sessions/*`, `/v1/context`). Field names follow
 * TribalMemory's `tribal_sessions_ingest` (session_id, messages[{role, content, timestamp}],
 * instance_id); `id` and `index` are ours, for idempotent resends.
 */
const timeBound = z.string().trim().min(1).max(200);

export const SessionMessageInput = z.strictObject({
  role: z.string().trim().min(1).max(50),
  content: z.string(),
  /** ISO 8601; defaults to the time of ingest. */
  timestamp: z.string().max(64).nullable().optional(),
  /** A key unique in the session (a transcript record's uuid): a resend with it is ignored. */
  id: z.string().min(1).max(200).optional(),
  /** The message's position in the session, another way to make resends idempotent. */
  index: z.number().int().min(0).optional(),
});
export type SessionMessageInput = z.infer<typeof SessionMessageInput>;

export const SessionIngestBody = z.strictObject({
  session_id: z.string().trim().min(1).max(200),
  messages: z.array(SessionMessageInput).max(5000),
  instance_id: z.string().trim().min(1).max(200).optional(),
  /** Which runtime wrote the transcript: claude-code, codex, mcp, … */
  source: z.string().trim().min(1).max(50).optional(),
});
export type SessionIngestBody = z.infer<typeof SessionIngestBody>;

export const SessionSearchQuery = z.strictObject({
  query: z.string().trim().min(1).max(4096),
  limit: z.coerce.number().int().min(1).max(100).default(5),
  min_relevance: z.coerce.number().min(0).max(1).default(0),
  session_id: z.string().max(200).optional(),
  instance_id: z.string().max(200).optional(),
  after: timeBound.optional(),
  before: timeBound.optional(),
});
export type SessionSearchQuery = z.infer<typeof SessionSearchQuery>;

export const ContextTurn = z.strictObject({
  role: z.string().trim().min(1).max(50),
  content: z.string().max(200_000),
});

export const ContextBody = z.strictObject({
  /** The conversation's last turns, oldest first. */
  turns: z.array(ContextTurn).min(1).max(50),
  /** Budget for the formatted block, in tokens (estimated at 4 characters a token). */
  max_tokens: z.number().int().min(50).max(8000).default(600),
  limit: z.number().int().min(1).max(20).default(5),
  min_relevance: z.number().min(0).max(1).default(0.25),
  sources: z.enum(["memories", "sessions", "all"]).default("memories"),
  tags: z.array(z.string().trim().min(1).max(100)).max(64).optional(),
});
export type ContextBody = z.infer<typeof ContextBody>;
