import { isUtf8 } from "node:buffer";
import { TribalError } from "../errors.ts";
import { BundleManifest } from "../memory/schemas.ts";
import type { ImportSource, RawImportItem } from "./portability.ts";

export interface JsonlReadLimits {
  /** Bytes in the whole body (PAYLOAD_TOO_LARGE past it). */
  maxBytes: number;
  /** Bytes in one line; a longer line is reported and skipped, never buffered whole. */
  maxLineBytes: number;
}

/**
 * Lines of a JSONL body as they arrive, each parsed on its own; a line that is not UTF-8
 * or not JSON is reported by number and the rest still read.
 */
export async function* readJsonlLines(
  stream: AsyncIterable<Buffer | string>,
  limits: JsonlReadLimits,
): AsyncGenerator<RawImportItem> {
  let carry: Buffer[] = [];
  let carryBytes = 0;
  let oversized = false;
  let lineNo = 0;
  let total = 0;
  const finish = (buf: Buffer): RawImportItem | null => {
    lineNo++;
    if (oversized) {
      oversized = false;
      return { line: lineNo, parseError: `line longer than ${limits.maxLineBytes} bytes` };
    }
    if (!isUtf8(buf)) return { line: lineNo, parseError: "not valid UTF-8" };
    const text = buf.toString("utf8").trim();
    if (!text) return null;
    try {
      return { line: lineNo, value: JSON.parse(text) };
    } catch (err) {
      return { line: lineNo, parseError: (err as Error).message };
    }
  };
  for await (const raw of stream) {
    const chunk = typeof raw === "string" ? Buffer.from(raw, "utf8") : raw;
    total += chunk.length;
    if (total > limits.maxBytes) throw bodyTooLarge(limits.maxBytes, lineNo);
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      if (nl < 0) break;
      const piece = chunk.subarray(start, nl);
      const line = carry.length ? Buffer.concat([...carry, piece]) : piece;
      carry = [];
      carryBytes = 0;
      const item = finish(line);
      if (item) yield item;
      start = nl + 1;
    }
    if (start < chunk.length && !oversized) {
      const rest = chunk.subarray(start);
      carryBytes += rest.length;
      if (carryBytes > limits.maxLineBytes) {
        oversized = true;
        carry = [];
        carryBytes = 0;
      } else carry.push(Buffer.from(rest));
    }
  }
  if (carry.length || oversized) {
    const item = finish(Buffer.concat(carry));
    if (item) yield item;
  }
}

export function bodyTooLarge(maxBytes: number, linesRead: number): TribalError {
  return new TribalError(
    "PAYLOAD_TOO_LARGE",
    `The import body exceeds ${Math.round(maxBytes / 1024 / 1024)} MiB. Split it into several imports.`,
    { limit: maxBytes, lines_read: linesRead },
  );
}

/**
 * A JSONL import: a first line holding `{"manifest": …}` is the manifest (read before any
 * entry, so the vector decision is known), every other line an entry.
 */
export async function openJsonlImport(
  stream: AsyncIterable<Buffer | string>,
  limits: JsonlReadLimits,
): Promise<ImportSource> {
  const lines = readJsonlLines(stream, limits);
  const first = await lines.next();
  let manifest: BundleManifest | null = null;
  let pushBack: RawImportItem | null = null;
  if (!first.done) {
    const v = first.value.value;
    if (v && typeof v === "object" && !Array.isArray(v) && "manifest" in v) {
      const m = BundleManifest.safeParse((v as { manifest: unknown }).manifest);
      if (!m.success)
        throw new TribalError(
          "IMPORT_INVALID",
          `line ${first.value.line}: manifest is invalid: ${m.error.issues[0].message}`,
          { line: first.value.line },
        );
      manifest = m.data;
    } else pushBack = first.value;
  }
  async function* items(): AsyncGenerator<RawImportItem> {
    if (pushBack) yield pushBack;
    if (!first.done) yield* lines;
  }
  return { manifest, items: items(), total: manifest?.memory_count ?? null };
}
