import { describe, expect, it } from "vitest";
import {
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
