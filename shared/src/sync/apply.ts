import * as A from "@automerge/automerge";
import { TribalError } from "../errors.ts";
import {
  type AutomergeMemoryDoc,
  applyMemoryChanges,
  decodeChangeMeta,
  loadMemoryDoc,
  materializeMemory,
  saveMemoryDoc,
} from "../memory/document.ts";
import { checkChangeBytes } from "../memory/size-policy.ts";
import type { ChangeRecord, Memory } from "../memory/types.ts";
import { decodeBytes, MAX_CHANGE_BYTES, type WireChange } from "./protocol.ts";

/**
 * Turn a change from the wire into a record, checking that its bytes decode and that the hash
 * and dependencies it claims are the ones inside it (a forged change is refused with a code).
 */
export function decodeWireChange(w: WireChange): ChangeRecord {
  const bytes = decodeBytes(w.bytes);
  if (bytes.byteLength === 0) {
    throw new TribalError("SYNC_INVALID_CHANGE", `Change ${w.hash} is empty.`, { hash: w.hash });
  }
  checkChangeBytes({ hash: w.hash, docId: w.doc_id, bytes }, MAX_CHANGE_BYTES);
  let meta: ReturnType<typeof decodeChangeMeta>;
  try {
    meta = decodeChangeMeta(bytes);
  } catch (err) {
    throw new TribalError(
      "SYNC_INVALID_CHANGE",
      `Change ${w.hash} is not a valid Automerge change: ${(err as Error).message}`,
      {
        hash: w.hash,
      },
    );
  }
  if (meta.hash !== w.hash) {
    throw new TribalError(
      "SYNC_INVALID_CHANGE",
      `Change claims hash ${w.hash} but its bytes hash to ${meta.hash}.`,
      { hash: w.hash },
    );
  }
  if ([...meta.deps].sort().join() !== [...w.deps].sort().join()) {
    throw new TribalError(
      "SYNC_INVALID_CHANGE",
      `Change ${w.hash} lists dependencies other than the ones it carries.`,
      {
        hash: w.hash,
      },
    );
  }
  return { docId: w.doc_id, hash: meta.hash, deps: meta.deps, bytes };
}

/**
 * The memory a creating change (no dependencies) builds, read from the change's operations
 * without building an Automerge document: ~10x cheaper than init + applyChanges, which is
 * most of the cost of ingesting and bootstrapping new memories. Returns null for any change
 * that is not a plain set of root fields and tag keys (the caller then applies it for real).
 */
export function materializeRootChange(bytes: Uint8Array): Memory | null {
  let change: A.DecodedChange;
  try {
    change = A.decodeChange(bytes);
  } catch {
    return null;
  }
  if (change.deps.length) return null;
  const root: Record<string, unknown> = {};
  const maps = new Map<string, Record<string, unknown>>();
  for (let i = 0; i < change.ops.length; i++) {
    const op = change.ops[i] as {
      action: string;
      obj: string;
      key?: string;
      value?: unknown;
      datatype?: string;
      pred: string[];
      insert?: boolean;
    };
    if (op.pred.length || op.insert || typeof op.key !== "string") return null;
    const target = op.obj === "_root" ? root : maps.get(op.obj);
    if (!target) return null;
    if (op.action === "makeMap") {
      const child: Record<string, unknown> = {};
      maps.set(`${change.startOp + i}@${change.actor}`, child);
      target[op.key] = child;
    } else if (op.action === "set") {
      if (op.datatype !== undefined && !["float64", "int", "uint"].includes(op.datatype)) return null;
      const v = op.value;
      if (v !== null && typeof v !== "string" && typeof v !== "number" && typeof v !== "boolean") return null;
      target[op.key] = v;
    } else {
      return null;
    }
  }
  return materializeMemory(root as unknown as AutomergeMemoryDoc);
}

export interface AppliedDoc {
  /** Null when the memory was read straight from its one creating change. */
  doc: AutomergeMemoryDoc | null;
  docBytes: Uint8Array;
  memory: Memory;
}

/**
 * Apply changes to a memory's document (its saved form, or null for a new memory) and check the
 * result is a well-formed memory of that id. Both stores call this, so the daemon and the relay
 * materialise a document the same way. Dependencies must have been checked by the caller: a
 * change whose dependencies are absent is refused here as a last line of defence.
 */
export function applyChangesToDoc(
  saved: Uint8Array | AutomergeMemoryDoc | null,
  changes: ChangeRecord[],
  docId: string,
  actor: string,
): AppliedDoc {
  if (saved === null && changes.length === 1 && changes[0].deps.length === 0) {
    const memory = materializeRootChange(changes[0].bytes);
    // A change chunk loads as a document as it is: it is its own saved form.
    if (memory && memory.id === docId) return { doc: null, docBytes: changes[0].bytes, memory };
  }
  let base: AutomergeMemoryDoc | null;
  try {
    base = saved === null ? null : saved instanceof Uint8Array ? loadMemoryDoc(saved, actor) : saved;
  } catch (err) {
    throw new TribalError("INTERNAL", `Stored document of ${docId} does not load: ${(err as Error).message}`);
  }
  let result: ReturnType<typeof applyMemoryChanges>;
  try {
    result = applyMemoryChanges(
      base,
      changes.map((c) => c.bytes),
      actor,
    );
  } catch (err) {
    // e.g. "duplicate seq" from two installs sharing an actor: quarantine the change, keep the doc.
    throw new TribalError(
      "SYNC_INVALID_CHANGE",
      `Changes of ${docId} cannot be applied: ${(err as Error).message}`,
      {
        doc_id: docId,
        hash: changes[0]?.hash,
      },
    );
  }
  if (result.missingDeps.length) {
    throw new TribalError("SYNC_MISSING_DEPS", `Changes of ${docId} depend on changes not received yet.`, {
      doc_id: docId,
      missing: result.missingDeps,
    });
  }
  const memory = materializeMemory(result.doc);
  if (memory.id !== docId) {
    throw new TribalError(
      "SYNC_INVALID_CHANGE",
      `Change claims memory ${docId} but its document is ${memory.id || "not a memory"}.`,
      {
        doc_id: docId,
        hash: changes[0]?.hash,
      },
    );
  }
  // A memory made by one change needs no save: a change chunk loads as a document as it is.
  const docBytes = saved === null && changes.length === 1 ? changes[0].bytes : saveMemoryDoc(result.doc);
  return { doc: result.doc, docBytes, memory };
}

/**
 * The cross-machine duplicate rule: among live memories with the same normalised content, the
 * smallest id stays; every other one points to it (`duplicate_of`) and its tags join the
 * survivor's. Deterministic, so any relay process reaches the same answer.
 */
export function planDuplicateMerge(
  group: Memory[],
): { keep: Memory; merge: Memory[]; addTags: string[] } | null {
  const live = group.filter((m) => !m.deleted && m.duplicate_of === null && m.supersedes === null);
  if (live.length < 2) return null;
  const sorted = [...live].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const [keep, ...merge] = sorted;
  const tags = new Set<string>();
  for (const m of merge) for (const t of m.tags) if (!keep.tags.includes(t)) tags.add(t);
  return { keep, merge, addTags: [...tags].sort() };
}
