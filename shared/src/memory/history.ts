import * as A from "@automerge/automerge";
import { type AutomergeMemoryDoc, type MemoryDoc, materializeMemory } from "./document.ts";
import type { Memory } from "./types.ts";

/** One field a change set: its value before the change and after it. */
export interface FieldChange {
  field: keyof Memory;
  from: unknown;
  to: unknown;
}

/** One Automerge change of a memory's document, as a person reads it. */
export interface HistoryEntry {
  hash: string;
  /** The Automerge actor that wrote it: one per daemon install, one per relay process. */
  actor: string;
  /**
   * The device the actor belongs to, as the server knows it (the relay: a sync device's id;
   * the daemon: "this device" for its own writes); null for an actor it does not know.
   */
  device: string | null;
  seq: number;
  /** The writer's clock when it made the change (whole seconds, as Automerge keeps it). */
  at: string | null;
  kind: "created" | "edited" | "forgotten" | "restored";
  /** The agent that wrote the memory (its source_instance); only the first change records one. */
  agent: string | null;
  /** The hybrid logical clock of a content write (`wall:counter:actor`), which orders concurrent edits. */
  content_clock: string | null;
  changes: FieldChange[];
}

/** The fields a change can set (id and origin are fixed at creation). */
const TRACKED: (keyof Memory)[] = [
  "content",
  "tags",
  "context",
  "confidence",
  "supersedes",
  "duplicate_of",
  "deleted",
  "source_type",
  "source_instance",
];

const CREATION_DEFAULTS: Partial<Record<keyof Memory, unknown>> = {
  tags: [],
  context: null,
  confidence: 1,
  supersedes: null,
  duplicate_of: null,
  deleted: false,
};

/**
 * A memory's history from its document: every change in causal order, each compared with the
 * state it was made on (its dependencies), not with the change listed before it, so two
 * concurrent edits from two machines each show what that machine changed.
 */
export function memoryHistory(doc: AutomergeMemoryDoc): HistoryEntry[] {
  return A.getHistory(doc).map(({ change }) => {
    const before = change.deps.length
      ? materializeMemory(A.view(doc, change.deps) as A.Doc<MemoryDoc>)
      : null;
    const after = materializeMemory(A.view(doc, [change.hash as string]) as A.Doc<MemoryDoc>);
    const changes: FieldChange[] = [];
    for (const field of TRACKED) {
      const from = before ? before[field] : null;
      const to = after[field];
      // A creation lists what was set, not the defaults (no tags, confidence 1, not deleted).
      if (before === null && JSON.stringify(to) === JSON.stringify(CREATION_DEFAULTS[field])) continue;
      if (JSON.stringify(from) !== JSON.stringify(to)) changes.push({ field, from, to });
    }
    const kind =
      before === null
        ? "created"
        : !before.deleted && after.deleted
          ? "forgotten"
          : before.deleted && !after.deleted
            ? "restored"
            : "edited";
    const clock = changes.some((c) => c.field === "content")
      ? contentClockAt(doc, change.hash as string)
      : null;
    return {
      hash: change.hash as string,
      actor: change.actor,
      device: null,
      seq: change.seq,
      at: change.time ? new Date(change.time * 1000).toISOString() : null,
      kind,
      agent: before === null ? after.source_instance : null,
      content_clock: clock,
      changes,
    };
  });
}

/** The history with each entry's device named from `names` (actor → device), where known. */
export function nameDevices(history: HistoryEntry[], names: ReadonlyMap<string, string>): HistoryEntry[] {
  return history.map((h) => ({ ...h, device: names.get(h.actor) ?? null }));
}

function contentClockAt(doc: AutomergeMemoryDoc, hash: string): string | null {
  const view = A.view(doc, [hash]) as A.Doc<MemoryDoc>;
  return view.content_hlc === undefined ? null : String(view.content_hlc);
}
