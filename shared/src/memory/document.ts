import * as A from "@automerge/automerge";
import type { ChangeRecord, Memory } from "./types.ts";

/**
 * One Automerge document per memory (measured: one document per workspace costs 40 ms per
 * insert at 40k records; one per memory stays flat). Strings are ImmutableString: a plain
 * string would become character-level text, 8x slower to load and never edited by character.
 */
export interface MemoryDoc {
  /** JSON of the fields fixed at creation (id, source_type, source_instance, created_at): one
   * assignment instead of four, since each costs a round trip into Automerge's WASM. */
  origin: A.ImmutableString;
  content: A.ImmutableString;
  /**
   * The hybrid logical clock of the content write (`formatHlc`), written in the same change
   * right after `content`, so its op is the content op's counter + 1: that is how a clock is
   * paired with its value among concurrent writes. Absent in documents of older writers.
   */
  content_hlc?: A.ImmutableString;
  /** A map tag→true, so concurrent tag additions on two machines both survive. */
  tags: Record<string, boolean>;
  /** JSON text of the context value (string or object); replaced whole, never merged by key. */
  context?: A.ImmutableString | null;
  /** Absent means 1. */
  confidence?: number;
  supersedes?: A.ImmutableString | null;
  duplicate_of?: A.ImmutableString | null;
  /** Absent means created_at. */
  updated_at?: A.ImmutableString;
  /** Absent means false. */
  deleted?: boolean;
  /** ISO time the memory expires at; absent or null means never. */
  expires_at?: A.ImmutableString | null;
  /** The project it belongs to; absent means none. Set at creation only. */
  project?: A.ImmutableString;
}

interface Origin {
  id: string;
  source_type: string;
  source_instance: string;
  created_at: string;
}

export type AutomergeMemoryDoc = A.Doc<MemoryDoc>;

const str = (s: string) => new A.ImmutableString(s);
const optStr = (s: string | null) => (s === null ? null : new A.ImmutableString(s));
const read = (v: A.ImmutableString | string | null | undefined): string | null =>
  v === null || v === undefined ? null : String(v);

export interface MemoryEdit {
  content?: string;
  addTags?: string[];
  removeTags?: string[];
  context?: Memory["context"];
  confidence?: number;
  supersedes?: string | null;
  duplicate_of?: string | null;
  deleted?: boolean;
  expires_at?: string | null;
  updated_at: string;
}

export interface DocWrite {
  doc: AutomergeMemoryDoc;
  change: ChangeRecord;
  memory: Memory;
}

/** Create the document of a new memory; its first change carries every field. */
export function createMemoryDoc(memory: Memory, actor: string): DocWrite {
  const initial = A.init<MemoryDoc>({ actor });
  const doc = A.change(initial, { time: Math.floor(Date.parse(memory.created_at) / 1000) }, (d) => {
    const origin: Origin = {
      id: memory.id,
      source_type: memory.source_type,
      source_instance: memory.source_instance,
      created_at: memory.created_at,
    };
    d.origin = str(JSON.stringify(origin));
    d.content = str(memory.content);
    const tags: Record<string, boolean> = {};
    for (const tag of memory.tags) tags[tag] = true;
    d.tags = tags;
    // Defaults are left out: every assignment is a WASM round trip (measured ~0.1 ms each).
    if (memory.context !== null) d.context = str(JSON.stringify(memory.context));
    if (memory.confidence !== 1) d.confidence = memory.confidence;
    if (memory.supersedes !== null) d.supersedes = str(memory.supersedes);
    if (memory.duplicate_of !== null) d.duplicate_of = str(memory.duplicate_of);
    if (memory.updated_at !== memory.created_at) d.updated_at = str(memory.updated_at);
    if (memory.deleted) d.deleted = true;
    if (memory.expires_at) d.expires_at = str(memory.expires_at);
    if (memory.project) d.project = str(memory.project);
  });
  return finish(doc, memory.id);
}

/**
 * Apply an edit as one change. Returns null when the edit changes nothing. `updated_at` is the
 * writer's clock (the service's injectable `now`): a content write stamps its hybrid logical
 * clock from it, so concurrent content edits resolve to the later one (see `materializeMemory`).
 */
export function editMemoryDoc(doc: AutomergeMemoryDoc, edit: MemoryEdit): DocWrite | null {
  const before = materializeMemory(doc);
  const nowMs = Date.parse(edit.updated_at);
  const newContent = edit.content !== undefined && edit.content !== before.content ? edit.content : null;
  const clock = newContent === null ? null : nextContentHlc(doc, Number.isFinite(nowMs) ? nowMs : 0);
  const next = A.change(doc, { time: Math.floor(nowMs / 1000) }, (d) => {
    let changed = false;
    if (newContent !== null && clock) {
      // Two consecutive ops: the clock's op id is the content op's + 1 (see contentOf).
      d.content = str(newContent);
      d.content_hlc = str(formatHlc(clock));
      changed = true;
    }
    for (const tag of edit.addTags ?? []) {
      if (!d.tags[tag]) {
        d.tags[tag] = true;
        changed = true;
      }
    }
    for (const tag of edit.removeTags ?? []) {
      if (d.tags[tag]) {
        delete d.tags[tag];
        changed = true;
      }
    }
    if (edit.context !== undefined && JSON.stringify(edit.context) !== JSON.stringify(before.context)) {
      d.context = edit.context === null ? null : str(JSON.stringify(edit.context));
      changed = true;
    }
    if (edit.confidence !== undefined && edit.confidence !== before.confidence) {
      d.confidence = edit.confidence;
      changed = true;
    }
    if (edit.supersedes !== undefined && edit.supersedes !== before.supersedes) {
      d.supersedes = optStr(edit.supersedes);
      changed = true;
    }
    if (edit.duplicate_of !== undefined && edit.duplicate_of !== before.duplicate_of) {
      d.duplicate_of = optStr(edit.duplicate_of);
      changed = true;
    }
    if (edit.deleted !== undefined && edit.deleted !== before.deleted) {
      d.deleted = edit.deleted;
      changed = true;
    }
    if (edit.expires_at !== undefined && edit.expires_at !== (before.expires_at ?? null)) {
      d.expires_at = optStr(edit.expires_at);
      changed = true;
    }
    if (changed) d.updated_at = str(edit.updated_at);
  });
  if (A.getHeads(next).join() === A.getHeads(doc).join()) return null;
  return finish(next, before.id);
}

function finish(doc: AutomergeMemoryDoc, docId: string): DocWrite {
  const bytes = A.getLastLocalChange(doc);
  if (!bytes) throw new Error("Automerge produced no change");
  const decoded = A.decodeChange(bytes);
  return {
    doc,
    change: { docId, hash: decoded.hash as string, deps: decoded.deps, bytes },
    memory: materializeMemory(doc),
  };
}

// ------------------------------------------------------------ content clock

/**
 * A hybrid logical clock: wall time in ms, a counter that orders writes within one ms (or
 * after a clock that ran behind), and the writer's actor as the last tie-break. Ordered in
 * that order, it is last-writer-wins by time that every replica evaluates the same way.
 */
export interface Hlc {
  wall: number;
  counter: number;
  actor: string;
}

export function formatHlc(h: Hlc): string {
  return `${h.wall}:${h.counter}:${h.actor}`;
}

export function parseHlc(text: string): Hlc | null {
  const m = /^(\d+):(\d+):([0-9a-f]+)$/.exec(text);
  return m ? { wall: Number(m[1]), counter: Number(m[2]), actor: m[3] } : null;
}

export function compareHlc(a: Hlc, b: Hlc): number {
  if (a.wall !== b.wall) return a.wall < b.wall ? -1 : 1;
  if (a.counter !== b.counter) return a.counter < b.counter ? -1 : 1;
  return a.actor < b.actor ? -1 : a.actor > b.actor ? 1 : 0;
}

/**
 * The clock of a new content write: after every clock the document has seen (so an edit made
 * on a machine whose clock runs behind still beats what it overwrites), at `nowMs` otherwise.
 */
export function nextContentHlc(doc: AutomergeMemoryDoc, nowMs: number): Hlc {
  let seen: Hlc | null = null;
  const texts =
    doc.content_hlc === undefined
      ? []
      : Object.values(A.getConflicts(doc, "content_hlc") ?? { only: doc.content_hlc });
  for (const t of texts) {
    const h = parseHlc(String(t));
    if (h && (!seen || compareHlc(h, seen) > 0)) seen = h;
  }
  const actor = A.getActorId(doc);
  if (!seen || nowMs > seen.wall) return { wall: Math.floor(nowMs), counter: 0, actor };
  return { wall: seen.wall, counter: seen.counter + 1, actor };
}

/**
 * The content the replicas agree on. Automerge alone keeps, of concurrent writes, the one
 * with the greater op id (op counter, then actor): on two offline machines the one that wrote
 * 5 s later could lose. When every concurrent value carries its clock, the greatest clock
 * wins instead; a value written by older code (no clock) leaves Automerge's choice in place,
 * so documents of older writers read as they always did.
 */
function contentOf(doc: AutomergeMemoryDoc): string | null {
  const fallback = read(doc.content);
  // A plain object (materializeRootChange) or a document no clock-stamping writer touched.
  if (doc.content_hlc === undefined || !A.isAutomerge(doc)) return fallback;
  const values = A.getConflicts(doc, "content");
  const clocks = A.getConflicts(doc, "content_hlc");
  if (!values || !clocks) return fallback;
  let best: { clock: Hlc; value: string } | null = null;
  for (const [opId, value] of Object.entries(values)) {
    const at = opId.indexOf("@");
    const clockText = clocks[`${Number(opId.slice(0, at)) + 1}@${opId.slice(at + 1)}`];
    const clock = clockText === undefined ? null : parseHlc(String(clockText));
    if (!clock) return fallback;
    if (!best || compareHlc(clock, best.clock) > 0) best = { clock, value: String(value) };
  }
  return best ? best.value : fallback;
}

/** The row every store keeps: the document read as plain values. */
export function materializeMemory(doc: AutomergeMemoryDoc): Memory {
  const origin = JSON.parse(read(doc.origin) ?? "{}") as Partial<Origin>;
  const contextText = read(doc.context);
  const createdAt = origin.created_at ?? new Date(0).toISOString();
  const expiresAt = read(doc.expires_at);
  const project = read(doc.project);
  return {
    id: origin.id ?? "",
    content: contentOf(doc) ?? "",
    source_type: origin.source_type ?? "unknown",
    source_instance: origin.source_instance ?? "unknown",
    tags: Object.keys(doc.tags ?? {})
      .filter((t) => doc.tags[t])
      .sort(),
    context: contextText === null ? null : (JSON.parse(contextText) as Memory["context"]),
    confidence: typeof doc.confidence === "number" ? doc.confidence : 1,
    supersedes: read(doc.supersedes),
    duplicate_of: read(doc.duplicate_of),
    created_at: createdAt,
    updated_at: read(doc.updated_at) ?? createdAt,
    deleted: doc.deleted === true,
    // Only when set: a memory that never expires reads as it did before expiry existed.
    ...(expiresAt ? { expires_at: expiresAt } : {}),
    ...(project ? { project } : {}),
  };
}

export function loadMemoryDoc(saved: Uint8Array, actor: string): AutomergeMemoryDoc {
  return A.load<MemoryDoc>(saved, { actor });
}

export function saveMemoryDoc(doc: AutomergeMemoryDoc): Uint8Array {
  return A.save(doc);
}

/** Apply remote changes (sync). Missing dependencies leave the doc unchanged for those changes. */
export function applyMemoryChanges(
  doc: AutomergeMemoryDoc | null,
  changes: Uint8Array[],
  actor: string,
): { doc: AutomergeMemoryDoc; missingDeps: string[] } {
  const base = doc ?? A.init<MemoryDoc>({ actor });
  const [next] = A.applyChanges(base, changes);
  return { doc: next, missingDeps: A.getMissingDeps(next, []) };
}

export function decodeChangeMeta(bytes: Uint8Array): {
  hash: string;
  deps: string[];
  actor: string;
  seq: number;
} {
  const c = A.decodeChange(bytes);
  return { hash: c.hash as string, deps: c.deps, actor: c.actor, seq: c.seq };
}

/** A fresh actor id for an install: 16 random bytes, hex. */
export function newActorId(): string {
  return A.getActorId(A.init());
}
