const KiB = 1024;
const MiB = 1024 * KiB;

/**
 * Request body caps per route, one table for daemon and relay: both servers take `default`
 * as their global limit, and every route that needs more declares its own. A body past its cap is answered 413
 * PAYLOAD_TOO_LARGE before it is parsed. A single memory is capped far lower (size-policy.ts);
 * these bound the parse. JSONL imports are read as a stream in constant memory, so their cap
 * bounds only time and disk; a JSON bundle is parsed whole, so its cap is smaller.
 */
export const BODY_LIMITS = {
  /** Every route that declares no cap of its own, on both servers. */
  default: 1 * MiB,
  remember: 1 * MiB,
  recall: 1 * MiB,
  correct: 1 * MiB,
  forget: 64 * KiB,
  export: 64 * KiB,
  /** Up to 1000 memories (RememberBatchBody). */
  batch: 16 * MiB,
  importJson: 64 * MiB,
  importStream: 1024 * MiB,
  /** One JSONL line: an entry with a 32 KiB content, 16 KiB context and a vector fits many times. */
  importLine: 4 * MiB,
  /** POST /v1/context: a conversation's last turns. */
  context: 4 * MiB,
  /** POST /v1/sessions/ingest: up to 5,000 transcript messages. */
  sessionsIngest: 64 * MiB,
  /** Relay POST /v1/embed: up to 256 texts of 32 KiB, JSON-escaped. */
  embed: 16 * MiB,
} as const;
