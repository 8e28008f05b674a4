import { closeSync, createReadStream, openSync, readFileSync, readSync, statSync } from "node:fs";
import { createInterface } from "node:readline";
import { TribalError } from "@tribalmemory/shared/errors";
import { BUNDLE_HEAD_BYTES, isBundleText } from "@tribalmemory/shared/service/bundle-detect";

/**
 * A file system error met reading what the user named (a folder where a file was wanted, a file
 * they may not read) as one coded line that says what to do, not a stack; other errors as they are.
 */
export function unreadableSource(err: unknown, path: string): unknown {
  const e = err as NodeJS.ErrnoException;
  if (e?.code === "ERR_STRING_TOO_LONG")
    return new TribalError(
      "IMPORT_INVALID",
      `${path} is too large to read whole (a bundle, or a pipe): export as JSONL (\`tribalmemory export\`'s default) to a file and import that file.`,
    );
  if (!e?.code || !e.syscall) return err;
  const next =
    e.code === "EISDIR"
      ? "Name a file, not a folder."
      : e.code === "ENOENT"
        ? "Check the path."
        : e.code === "EACCES" || e.code === "EPERM"
          ? "Check its permissions."
          : "Check the file.";
  return new TribalError("IMPORT_INVALID", `cannot read ${e.path ?? path} (${e.code}). ${next}`);
}

/** The file's text, or IMPORT_INVALID naming it and why it cannot be read. */
export function readSource(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    throw unreadableSource(err, path);
  }
}

/** A file `tribalmemory import` reads: its manifest line, how many lines follow, and those lines. */
export interface ImportFile {
  /** The `{"manifest": …}` line the file starts with, if it does. */
  manifest?: string;
  /** Lines after the manifest (for a progress bar: from disk, a pass over the file of its own). */
  count: () => Promise<number>;
  /** Those lines: streamed from disk for JSONL (each call reads the file again), from memory for a bundle. */
  lines: () => Iterable<string> | AsyncIterable<string>;
}

const MANIFEST_PREFIX = '{"manifest"';

/**
 * A JSONL export streams line by line (a million memories are more than one string may hold);
 * a bundle (.json: one JSON document, pretty or on one line as `export --format bundle` writes
 * it) is read whole and becomes the same lines. So is anything not a regular file (a pipe,
 * `<(gunzip -c export.jsonl.gz)`), which can be read only once.
 */
export async function openImportFile(path: string): Promise<ImportFile> {
  let regular: boolean;
  try {
    regular = statSync(path).isFile();
  } catch (err) {
    throw unreadableSource(err, path);
  }
  if (!regular) return inMemory(toJsonlLines(readSource(path)));
  const head = readHead(path, BUNDLE_HEAD_BYTES);
  if (isBundleText(head.text, head.truncated)) return inMemory(bundleLines(readSource(path)));
  // The manifest, when there is one, is the first line: short, within the head.
  const first = head.text.slice(0, head.text.indexOf("\n") + 1 || undefined).replace(/\r?\n$/, "");
  const manifest = first.startsWith(MANIFEST_PREFIX) ? first : undefined;
  const skip = manifest === undefined ? 0 : 1;
  const lines = async function* () {
    let n = 0;
    for await (const line of fileLines(path)) if (n++ >= skip) yield line;
  };
  return {
    manifest,
    count: async () => {
      let n = 0;
      for await (const _ of lines()) n++;
      return n;
    },
    lines,
  };
}

function inMemory(lines: string[]): ImportFile {
  const manifest = lines[0]?.startsWith(MANIFEST_PREFIX) ? lines.shift() : undefined;
  return { manifest, count: async () => lines.length, lines: () => lines };
}

/** A file read whole: a bundle becomes JSONL lines; JSONL stays as it is. */
function toJsonlLines(text: string): string[] {
  if (isBundleText(text.slice(0, BUNDLE_HEAD_BYTES), text.length > BUNDLE_HEAD_BYTES))
    return bundleLines(text);
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}

/** A bundle's manifest and entries as JSONL lines, the manifest first. */
export function bundleLines(text: string): string[] {
  const parsed = JSON.parse(text) as {
    manifest?: unknown;
    entries?: unknown[];
    bundle?: { manifest: unknown; entries: unknown[] };
  };
  const bundle = parsed.bundle ?? parsed;
  return [
    JSON.stringify({ manifest: bundle.manifest }),
    ...(bundle.entries ?? []).map((e) => JSON.stringify(e)),
  ];
}

async function* fileLines(path: string): AsyncGenerator<string> {
  const input = createReadStream(path, { encoding: "utf8" });
  try {
    yield* createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
  } catch (err) {
    throw unreadableSource(err, path);
  } finally {
    input.destroy();
  }
}

function readHead(path: string, bytes: number): { text: string; truncated: boolean } {
  let fd: number | undefined;
  try {
    fd = openSync(path, "r");
    const buffer = Buffer.alloc(bytes);
    const n = readSync(fd, buffer, 0, bytes, 0);
    return { text: buffer.subarray(0, n).toString("utf8"), truncated: n === bytes };
  } catch (err) {
    throw unreadableSource(err, path);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
