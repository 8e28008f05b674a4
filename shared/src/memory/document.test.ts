import * as A from "@automerge/automerge";
import { describe, expect, it } from "vitest";
import {
  type AutomergeMemoryDoc,
  applyMemoryChanges,
  createMemoryDoc,
  decodeChangeMeta,
  editMemoryDoc,
  loadMemoryDoc,
  materializeMemory,
  newActorId,
  saveMemoryDoc,
} from "./document.ts";
import type { Memory } from "./types.ts";

const base: Memory = {
  id: "01a20deb-dd4d-72ab-816c-a3233b5349ce",
  content: "Deploys happen on Tuesdays",
  source_type: "user_explicit",
  source_instance: "claude-code@laptop",
  tags: ["ops", "release"],
  context: { file: "RELEASE.md" },
  confidence: 0.9,
  supersedes: null,
  duplicate_of: null,
  created_at: "2026-03-01T10:00:00.000Z",
  updated_at: "2026-03-01T10:00:00.000Z",
  deleted: false,
};

describe("memory documents", () => {
  it("materialise to exactly what was created, and survive save/load", () => {
    const w = createMemoryDoc(base, newActorId());
    expect(w.memory).toEqual(base);
    expect(materializeMemory(loadMemoryDoc(saveMemoryDoc(w.doc), newActorId()))).toEqual(base);
    expect(w.change.deps).toEqual([]);
    expect(decodeChangeMeta(w.change.bytes).hash).toBe(w.change.hash);
  });

  it("record an edit as one change depending on the previous one, and skip no-op edits", () => {
    const w = createMemoryDoc(base, newActorId());
    const e = editMemoryDoc(w.doc, { deleted: true, updated_at: "2026-03-02T00:00:00.000Z" });
    expect(e?.memory).toMatchObject({
      deleted: true,
      updated_at: "2026-03-02T00:00:00.000Z",
      content: base.content,
    });
    expect(e?.change.deps).toEqual([w.change.hash]);
    expect(editMemoryDoc(e!.doc, { addTags: ["ops"], updated_at: "2026-03-03T00:00:00.000Z" })).toBeNull();
  });

  it("merge concurrent tag additions from two machines and converge on one content", () => {
    const a = createMemoryDoc(base, newActorId());
    const bDoc = applyMemoryChanges(null, [a.change.bytes], newActorId()).doc;
    const ea = editMemoryDoc(a.doc, {
      addTags: ["from-a"],
      content: "Deploys happen on Wednesdays",
      updated_at: "2026-03-02T00:00:00.000Z",
    });
    const eb = editMemoryDoc(bDoc, {
      addTags: ["from-b"],
      content: "Deploys happen on Thursdays",
      updated_at: "2026-03-02T00:00:01.000Z",
    });
    const left = applyMemoryChanges(ea!.doc, [eb!.change.bytes], newActorId());
    const right = applyMemoryChanges(eb!.doc, [ea!.change.bytes], newActorId());
    expect(left.missingDeps).toEqual([]);
    const ml = materializeMemory(left.doc);
    const mr = materializeMemory(right.doc);
    expect(ml).toEqual(mr);
    expect(ml.tags).toEqual(["from-a", "from-b", "ops", "release"]);
  });

  it("report missing dependencies instead of applying a change out of order", () => {
    const a = createMemoryDoc(base, newActorId());
    const e = editMemoryDoc(a.doc, { content: "later", updated_at: "2026-03-02T00:00:00.000Z" });
    const partial = applyMemoryChanges(null, [e!.change.bytes], newActorId());
    expect(partial.missingDeps).toEqual([a.change.hash]);
  });
});

describe("concurrent content edits: last writer by time wins", () => {
  // Automerge keeps the value with the greater op id (counter, then actor): with equal
  // counters the greater actor wins. The later writer here has the smaller actor, so the old
  // rule picked the earlier write.
  const early = "ff".repeat(16);
  const late = "00".repeat(16);
  const fork = () => {
    const created = createMemoryDoc(base, newActorId());
    const onEarly = applyMemoryChanges(null, [created.change.bytes], early).doc;
    const onLate = applyMemoryChanges(null, [created.change.bytes], late).doc;
    return { created, onEarly, onLate };
  };
  const mergeBothWays = (x: AutomergeMemoryDoc, y: AutomergeMemoryDoc) => [
    materializeMemory(A.merge(A.clone(x), y)),
    materializeMemory(A.merge(A.clone(y), x)),
  ];

  it("the edit with the later clock wins on every replica, whatever the merge order", () => {
    const { created, onEarly, onLate } = fork();
    const e = editMemoryDoc(onEarly, { content: "written first", updated_at: "2026-03-02T10:00:00.000Z" });
    const l = editMemoryDoc(onLate, { content: "written 5 s later", updated_at: "2026-03-02T10:00:05.000Z" });
    const merged = A.merge(A.clone(e!.doc), l!.doc);
    // Automerge's own pick is the earlier write: the clock is what changes the answer.
    expect(String(merged.content)).toBe("written first");
    const [left, right] = mergeBothWays(e!.doc, l!.doc);
    expect(left.content).toBe("written 5 s later");
    expect(right).toEqual(left);
    // Also through the sync path (changes applied to a third replica, in either order).
    for (const order of [
      [e!.change.bytes, l!.change.bytes],
      [l!.change.bytes, e!.change.bytes],
    ]) {
      const r = applyMemoryChanges(null, [created.change.bytes, ...order], newActorId());
      expect(materializeMemory(r.doc).content).toBe("written 5 s later");
    }
  });

  it("within one millisecond the clocks still order deterministically (actor breaks the tie)", () => {
    const { onEarly, onLate } = fork();
    const at = "2026-03-02T10:00:00.000Z";
    const e = editMemoryDoc(onEarly, { content: "from ff", updated_at: at });
    const l = editMemoryDoc(onLate, { content: "from 00", updated_at: at });
    const [left, right] = mergeBothWays(e!.doc, l!.doc);
    expect(left.content).toBe("from ff");
    expect(right.content).toBe("from ff");
  });

  it("an edit made after seeing the conflict wins even when its machine's clock runs behind", () => {
    const { onEarly, onLate } = fork();
    const e = editMemoryDoc(onEarly, { content: "a", updated_at: "2026-03-02T10:00:00.000Z" });
    const l = editMemoryDoc(onLate, { content: "b", updated_at: "2026-03-02T10:00:05.000Z" });
    const merged = A.merge(A.clone(e!.doc), l!.doc);
    // The early machine's clock is 1 h behind: its next edit still follows what it has seen.
    const fix = editMemoryDoc(merged, { content: "c", updated_at: "2026-03-02T09:00:00.000Z" });
    expect(fix!.memory.content).toBe("c");
    const onOther = A.merge(A.clone(l!.doc), fix!.doc);
    expect(materializeMemory(onOther).content).toBe("c");
    expect(String(onOther.content_hlc)).toMatch(/^1772445605000:1:/);
  });

  it("documents written without clocks keep Automerge's winner", () => {
    const { onEarly, onLate } = fork();
    // Older writers set content alone.
    const e = A.change(A.clone(onEarly, early), (d) => {
      d.content = new A.ImmutableString("old writer, first");
    });
    const l = A.change(A.clone(onLate, late), (d) => {
      d.content = new A.ImmutableString("old writer, later");
    });
    const [left, right] = mergeBothWays(e, l);
    expect(left.content).toBe("old writer, first");
    expect(right.content).toBe("old writer, first");
    // A clock on one side only: still Automerge's pick, the same on both replicas.
    const n = editMemoryDoc(onLate, { content: "new writer", updated_at: "2026-03-02T10:00:05.000Z" });
    const [l2, r2] = mergeBothWays(e, n!.doc);
    expect(l2.content).toBe(String(A.merge(A.clone(e), n!.doc).content));
    expect(r2.content).toBe(l2.content);
  });
});
