import { readFileSync } from "node:fs";
import { TribalError } from "@tribalmemory/shared/errors";

/**
 * A file system error met reading what the user named (a folder where a file was wanted, a file
 * they may not read) as one coded line that says what to do, not a stack; other errors as they are.
 */
export function unreadableSource(err: unknown, path: string): unknown {
  const e = err as NodeJS.ErrnoException;
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
