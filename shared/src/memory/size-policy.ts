import { TribalError } from "../errors.ts";
import type { ChangeRecord, Memory } from "./types.ts";

/**
 * The one size policy, applied by both servers (the daemon and the relay run the same
 * MemoryService and the same request schemas), so a write one side accepts the other accepts
 * too, and every accepted write fits every limit further down the line:
 *
 *   content ≤ 32 KiB (configurable up to 64 KiB) ┐
 *   context ≤ 16 KiB serialized, ≤ 32 levels     ├─ record ≤ 112 KiB ─▶ change ≤ 120 KiB
 *   tags ≤ 64 × 100 characters                   ┘
 *   change ≤ 120 KiB < relay change cap 128 KiB
 *   sync page (a `changes` batch, a pull response, a push) ≤ 4 MiB < frame 16 MiB
 *
 * Measured reason for the ordering: a 900 KB context used to be stored by the daemon and then
 * refused by the relay on every push, which stopped everything written after it from syncing;
 * and a relay page of 500 entries of ~43 KB each crossed the client's 16 MiB frame limit, so
 * every new daemon of the workspace looped on "Max payload size exceeded".
 */

const KiB = 1024;
const MiB = 1024 * KiB;

/** Default cap on one memory's content, UTF-8 bytes (`limits.max_content_bytes` in config). */
export const DEFAULT_MAX_CONTENT_BYTES = 32 * KiB;
/** The most `limits.max_content_bytes` may be set to: beyond it a record would not fit a change. */
export const MAX_CONTENT_BYTES_CEILING = 64 * KiB;
/** Context (string or JSON object) as stored: its JSON text, UTF-8 bytes. */
export const MAX_CONTEXT_BYTES = 16 * KiB;
/** Nesting of a context object; checked without recursion, so 10,000 levels is a 422, not a crash. */
export const MAX_CONTEXT_DEPTH = 32;
export const MAX_TAGS = 64;
/** Characters per tag. */
export const MAX_TAG_CHARS = 100;
/** Characters of `source_instance`. */
export const MAX_SOURCE_INSTANCE_CHARS = 200;
/**
 * One whole record: content + context + tags + the short fields, UTF-8 bytes. Sized so the
 * largest record allowed above (64 + 16 + 25 KiB of 4-byte tags + ~1 KiB) fits.
 */
export const MAX_RECORD_BYTES = 112 * KiB;

/** The relay refuses any single change larger than this (CHANGE_TOO_LARGE). */
export const MAX_CHANGE_BYTES = 128 * KiB;
/** Writers refuse to create a change past this: below the relay's cap, with room for Automerge's framing. */
export const MAX_WRITE_CHANGE_BYTES = 120 * KiB;
/** WebSocket frame (both ends' `maxPayload`) and HTTP push body limit. */
export const MAX_SYNC_MESSAGE_BYTES = 16 * MiB;
/**
 * Byte budget of one sync page: a relay `changes` batch or pull response, and a daemon push.
 * A quarter of the frame, so the JSON envelope and any estimate error can never reach it.
 */
export const MAX_SYNC_PAGE_BYTES = MAX_SYNC_MESSAGE_BYTES / 4;
/** The largest vector a page entry may carry beside its change (4096 dims of float32). */
const MAX_VECTOR_BYTES = 4096 * 4;

/** Wire size of one log entry or pushed change: base64 bytes, ids, deps and vector, JSON. */
export function wireEntryBytes(changeBytes: number, deps: number, vectorBytes = 0): number {
  const base64 = (n: number) => Math.ceil(n / 3) * 4;
  return base64(changeBytes) + deps * 67 + (vectorBytes ? base64(vectorBytes) + 250 : 0) + 250;
}

// The chain above, checked once at load: a change the policy admits always fits a page, and a
// page always fits a frame.
if (
  MAX_WRITE_CHANGE_BYTES >= MAX_CHANGE_BYTES ||
  wireEntryBytes(MAX_CHANGE_BYTES, 256, MAX_VECTOR_BYTES) > MAX_SYNC_PAGE_BYTES ||
  MAX_SYNC_PAGE_BYTES * 2 > MAX_SYNC_MESSAGE_BYTES
) {
  throw new Error("size policy: a change must fit a page and a page a frame");
}

/**
 * The page budget in force: MAX_SYNC_PAGE_BYTES, or a smaller one from
 * TRIBAL_MEMORY_SYNC_PAGE_BYTES (tests use it to fill several pages with little data).
 */
export function syncPageBudget(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.TRIBAL_MEMORY_SYNC_PAGE_BYTES);
  return Number.isInteger(n) && n >= 1024 ? Math.min(n, MAX_SYNC_PAGE_BYTES) : MAX_SYNC_PAGE_BYTES;
}

export interface SizePolicy {
  maxContentBytes: number;
  maxContextBytes: number;
  maxContextDepth: number;
  maxTags: number;
  maxTagChars: number;
  maxRecordBytes: number;
  maxChangeBytes: number;
}

export function sizePolicy(options: { maxContentBytes?: number } = {}): SizePolicy {
  const maxContentBytes = options.maxContentBytes ?? DEFAULT_MAX_CONTENT_BYTES;
  if (maxContentBytes > MAX_CONTENT_BYTES_CEILING) {
    throw new TribalError(
      "VALIDATION_FAILED",
      `max_content_bytes is ${maxContentBytes}; it may be at most ${MAX_CONTENT_BYTES_CEILING} (${MAX_CONTENT_BYTES_CEILING / KiB} KiB) so every memory fits one sync change.`,
    );
  }
  return {
    maxContentBytes,
    maxContextBytes: MAX_CONTEXT_BYTES,
    maxContextDepth: MAX_CONTEXT_DEPTH,
    maxTags: MAX_TAGS,
    maxTagChars: MAX_TAG_CHARS,
    maxRecordBytes: MAX_RECORD_BYTES,
    maxChangeBytes: MAX_WRITE_CHANGE_BYTES,
  };
}

export const DEFAULT_SIZE_POLICY: SizePolicy = sizePolicy();

/**
 * Nesting depth of a JSON value, walked with an explicit stack (a recursive walk, like
 * JSON.stringify's, overflows the call stack near 10,000 levels). Stops as soon as `limit`
 * is passed, so a hostile value costs at most `limit` levels of work per branch.
 */
export function jsonDepth(value: unknown, limit = Number.POSITIVE_INFINITY): number {
  let max = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length) {
    const [v, d] = stack.pop() as [unknown, number];
    if (v === null || typeof v !== "object") continue;
    const depth = d + 1;
    if (depth > max) max = depth;
    if (max > limit) return max;
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (child !== null && typeof child === "object") stack.push([child, depth]);
    }
  }
  return max;
}

/** Refuse a context that is too deep (CONTEXT_TOO_DEEP) or too large (CONTEXT_TOO_LARGE). */
export function checkContext(context: unknown, policy: SizePolicy = DEFAULT_SIZE_POLICY): void {
  if (context === null || context === undefined) return;
  const depth = jsonDepth(context, policy.maxContextDepth);
  if (depth > policy.maxContextDepth) {
    throw new TribalError(
      "CONTEXT_TOO_DEEP",
      `context nests more than ${policy.maxContextDepth} levels; flatten it.`,
      { limit: policy.maxContextDepth },
    );
  }
  const bytes = Buffer.byteLength(JSON.stringify(context), "utf8");
  if (bytes > policy.maxContextBytes) {
    throw new TribalError(
      "CONTEXT_TOO_LARGE",
      `context is ${bytes} bytes as JSON; the limit is ${policy.maxContextBytes} bytes (${policy.maxContextBytes / KiB} KiB). Keep large material in the content or elsewhere.`,
      { bytes, limit: policy.maxContextBytes },
    );
  }
}

/** Refuse more tags, or longer ones, than the policy allows (the request schemas say the same). */
export function checkTags(tags: readonly string[], policy: SizePolicy = DEFAULT_SIZE_POLICY): void {
  const long = tags.find((t) => t.length > policy.maxTagChars);
  if (tags.length > policy.maxTags || long !== undefined) {
    const message =
      long !== undefined
        ? `a tag is ${long.length} characters; the limit is ${policy.maxTagChars}.`
        : `${tags.length} tags; the limit is ${policy.maxTags}.`;
    throw new TribalError("VALIDATION_FAILED", `tags: ${message}`, {
      issues: [{ path: "tags", message }],
    });
  }
}

/** UTF-8 bytes of a record's variable fields plus a fixed allowance for ids and times. */
export function recordBytes(m: Memory): number {
  const b = (s: string | null) => (s === null ? 0 : Buffer.byteLength(s, "utf8"));
  let n = 256 + b(m.content) + b(m.source_instance) + b(m.source_type);
  if (m.context !== null) n += b(JSON.stringify(m.context));
  for (const t of m.tags) n += b(t) + 4;
  return n;
}

/**
 * The last check before a new memory commits: its context, the record as a whole, and the
 * Automerge change it makes, which must fit under the relay's change cap or it could never sync.
 */
export function checkWrite(
  write: { memory: Memory; change: ChangeRecord },
  policy: SizePolicy = DEFAULT_SIZE_POLICY,
): void {
  checkContext(write.memory.context, policy);
  checkRecord(write.memory, policy);
  checkChangeBytes(write.change, policy.maxChangeBytes);
}

/** RECORD_TOO_LARGE when content, context and tags together pass the record cap. */
export function checkRecord(memory: Memory, policy: SizePolicy = DEFAULT_SIZE_POLICY): void {
  const bytes = recordBytes(memory);
  if (bytes > policy.maxRecordBytes) {
    throw new TribalError(
      "RECORD_TOO_LARGE",
      `Memory ${memory.id} would be ${bytes} bytes; the limit is ${policy.maxRecordBytes} bytes (${policy.maxRecordBytes / KiB} KiB). Trim its content, context or tags.`,
      { bytes, limit: policy.maxRecordBytes },
    );
  }
}

/** CHANGE_TOO_LARGE past `limit` (the writers' cap, or the relay's MAX_CHANGE_BYTES). */
export function checkChangeBytes(
  change: { hash: string; docId?: string; bytes: Uint8Array },
  limit = MAX_CHANGE_BYTES,
): void {
  if (change.bytes.byteLength > limit) {
    throw new TribalError(
      "CHANGE_TOO_LARGE",
      `Change ${change.hash} is ${change.bytes.byteLength} bytes; the limit is ${limit} bytes (${Math.floor(limit / KiB)} KiB).`,
      {
        hash: change.hash,
        ...(change.docId ? { doc_id: change.docId } : {}),
        bytes: change.bytes.byteLength,
        limit,
      },
    );
  }
}
