/** How much of a file an import reads to tell a bundle from JSONL. */
export const BUNDLE_HEAD_BYTES = 64 * 1024;

/**
 * Whether an import's text is a bundle (one JSON document) rather than JSONL: it starts with `{`
 * and its first line is not whole JSON (pretty-printed), or is one object holding `entries` or
 * `bundle` (as `GET /v1/export?format=bundle` writes it, on one line), or runs past the head read
 * (`truncated`: only the first BUNDLE_HEAD_BYTES are given; a JSONL line, ≤ 32 KiB of content
 * and a vector, never does). A manifest line or an entry line is JSONL.
 */
export function isBundleText(text: string, truncated = false): boolean {
  const body = text.trimStart();
  if (!body.startsWith("{")) return false;
  const newline = body.indexOf("\n");
  if (newline < 0 && truncated) return true;
  try {
    const first = JSON.parse(newline < 0 ? body : body.slice(0, newline)) as Record<string, unknown>;
    return "entries" in first || "bundle" in first;
  } catch {
    return true;
  }
}
