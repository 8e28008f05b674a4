import type { ImportSummary } from "@tribalmemory/shared/service/portability";
import type { TribalClient } from "../client.ts";

/**
 * Sending JSONL import lines to `/v1/import` in chunks: the one path of `tribalmemory import`,
 * for TribalMemory's own files and for every peer format (which become the same lines).
 */

export const IMPORT_COUNTS = [
  "total",
  "imported",
  "skipped",
  "overwritten",
  "merged",
  "duplicates",
  "errors",
] as const;
/** What the chunks' summaries add up to. */
export type ImportTotals = Pick<ImportSummary, (typeof IMPORT_COUNTS)[number]> & { error_details: string[] };
/** Lines per request: small enough for the import body limit, large enough to keep requests few. */
const CHUNK_LINES = 500;

export function emptyTotals(): ImportTotals {
  return {
    total: 0,
    imported: 0,
    skipped: 0,
    overwritten: 0,
    merged: 0,
    duplicates: 0,
    errors: 0,
    error_details: [],
  };
}

export function addTotals(into: ImportTotals, from: ImportTotals): void {
  for (const k of IMPORT_COUNTS) into[k] += from[k];
  into.error_details.push(...from.error_details);
}

export interface UploadOptions {
  /** A `{"manifest": …}` line sent first with every chunk (embedding model of the vectors). */
  manifest?: string;
  conflict: string;
  dryRun: boolean;
  /** Lines sent so far, after each chunk. */
  onProgress?: (done: number) => void;
}

/**
 * Every line, CHUNK_LINES a request, read as they are sent (a file's lines stream from disk: an
 * export of a million memories is larger than one string may be). The daemon's `line N` in
 * error_details counts the manifest line and blank padding, so N is the line's place in a file
 * that starts with the manifest.
 */
export async function uploadJsonl(
  client: TribalClient,
  lines: Iterable<string> | AsyncIterable<string>,
  options: UploadOptions,
): Promise<ImportTotals> {
  const totals = emptyTotals();
  let sent = 0;
  let chunk: string[] = [];
  const send = async () => {
    // Keep line numbers true to the file: blank lines pad the chunk's start.
    const head = options.manifest ? `${options.manifest}\n` : "";
    const body = `${head}${"\n".repeat(sent)}${chunk.join("\n")}\n`;
    const qs = new URLSearchParams({
      conflict_resolution: options.conflict,
      on_error: "skip",
      dry_run: String(options.dryRun),
    });
    const r = await client.call<ImportTotals>("POST", `/v1/import?${qs}`, body, "application/x-ndjson");
    for (const k of IMPORT_COUNTS) totals[k] += r[k];
    totals.error_details.push(...r.error_details);
    sent += chunk.length;
    chunk = [];
    options.onProgress?.(sent);
  };
  for await (const line of lines) {
    chunk.push(line);
    if (chunk.length === CHUNK_LINES) await send();
  }
  if (chunk.length) await send();
  return totals;
}
