import * as A from "@automerge/automerge";
import { decodeChangeMeta } from "../memory/document.ts";
import type { ChangeRecord } from "../memory/types.ts";

/**
 * The changes a saved Automerge document holds, in causal order, each with its hash and
 * dependencies: what a snapshot page (protocol 3) carries, turned back into the log's form so a
 * replica applies it exactly as it applies replayed changes (same documents, same heads, the
 * same rows in its change table).
 *
 * A memory written once is saved as its one change chunk (pg-ingest.ts keeps the creating
 * change as the document): that chunk is the change itself, with no document to build.
 */
export function changesOfSavedDoc(docId: string, saved: Uint8Array): ChangeRecord[] {
  if (isChangeChunk(saved)) {
    const meta = decodeChangeMeta(saved);
    return [{ docId, hash: meta.hash, deps: meta.deps, bytes: saved }];
  }
  const doc = A.load(saved);
  return A.getAllChanges(doc).map((bytes) => {
    const meta = decodeChangeMeta(bytes);
    return { docId, hash: meta.hash, deps: meta.deps, bytes };
  });
}

/** Whether the document holds this change (a change pruned from the relay's log still is in it). */
export function docHasChange(doc: A.Doc<unknown>, hash: string): boolean {
  return A.hasHeads(doc, [hash]);
}

/** Automerge's binary format: 4 magic bytes, a 4-byte checksum, then the chunk type (1, 2: a change). */
function isChangeChunk(bytes: Uint8Array): boolean {
  return (
    bytes.byteLength > 8 &&
    bytes[0] === 0x85 &&
    bytes[1] === 0x6f &&
    bytes[2] === 0x4a &&
    bytes[3] === 0x83 &&
    (bytes[8] === 1 || bytes[8] === 2)
  );
}
