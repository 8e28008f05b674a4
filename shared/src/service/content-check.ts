import { TribalError } from "../errors.ts";
import { cleanContent } from "../memory/content.ts";

/** Content as stored (cleaned), or the error that tells the caller what to send instead. */
export function checkedContent(raw: string, field: string, maxBytes: number): string {
  const content = cleanContent(raw);
  if (!content) {
    throw new TribalError("VALIDATION_FAILED", `${field} is empty. Send the text to remember.`, {
      issues: [{ path: field, message: "empty" }],
    });
  }
  if (!content.isWellFormed()) {
    throw new TribalError("VALIDATION_FAILED", `${field} is not valid Unicode (unpaired surrogate).`, {
      issues: [{ path: field, message: "not valid UTF-8/UTF-16" }],
    });
  }
  const bytes = Buffer.byteLength(content, "utf8");
  if (bytes > maxBytes) {
    throw new TribalError(
      "CONTENT_TOO_LARGE",
      `${field} is ${bytes} bytes; the limit is ${maxBytes} bytes (${Math.round(maxBytes / 1024)} KiB). Split it into several memories.`,
      { bytes, limit: maxBytes },
    );
  }
  return content;
}
