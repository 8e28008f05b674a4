import { createHash } from "node:crypto";

/** The default content cap lives with every other size in the one size policy. */
export { DEFAULT_MAX_CONTENT_BYTES } from "./size-policy.ts";

/** Trim, and fold runs of whitespace: what we store. */
export function cleanContent(content: string): string {
  return content.replace(/\r\n?/g, "\n").trim();
}

/**
 * The key for exact-duplicate detection: case-folded, Unicode-normalised, whitespace and
 * trailing punctuation collapsed, so "Use pnpm." and "use  pnpm" are one memory.
 */
export function dedupKey(content: string): string {
  const folded = content.normalize("NFKC").toLowerCase().replace(/\s+/g, " ").trim();
  return sha256Hex(folded.replace(/[.!?;:,]+$/u, ""));
}

/** Hash of the stored content; embeddings record it to detect staleness. */
export function contentHash(content: string): string {
  return sha256Hex(content);
}

export function sha256Hex(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}
