import * as A from "@automerge/automerge";
import { describe, expect, it } from "vitest";
import {
  createMemoryDoc,
  decodeChangeMeta,
  editMemoryDoc,
  newActorId,
  saveMemoryDoc,
} from "../memory/document.ts";
import { sampleMemory } from "../testing/sample-memory.ts";
import { changeChunkMeta, changesOfSavedDoc, docHasChange } from "./snapshot.ts";

describe("a saved document turned back into its changes (snapshot bootstrap)", () => {
  it("a memory written once: its change chunk read from the header gives Automerge's own hash and deps", () => {
    const actor = newActorId();
    const created = createMemoryDoc(sampleMemory({ content: "the kiln is fired on tuesdays" }), actor);
    const edited = editMemoryDoc(created.doc, { addTags: ["kiln"], updated_at: new Date().toISOString() });
    for (const change of [created.change, edited?.change]) {
      if (!change) throw new Error("no edit");
      const meta = decodeChangeMeta(change.bytes);
      expect(changeChunkMeta(change.bytes)).toEqual({ hash: meta.hash, deps: meta.deps });
    }
    const [one] = changesOfSavedDoc(created.change.docId, created.change.bytes);
    expect(one).toEqual(created.change);
  });

  it("a document of several changes yields each, in causal order, with the document's heads among them", () => {
    const actor = newActorId();
    const created = createMemoryDoc(sampleMemory({ content: "the kiln is fired on tuesdays" }), actor);
    const e1 = editMemoryDoc(created.doc, { addTags: ["kiln"], updated_at: new Date().toISOString() });
    const e2 =
      e1 &&
      editMemoryDoc(e1.doc, {
        content: "the kiln is fired on fridays",
        updated_at: new Date().toISOString(),
      });
    if (!e2) throw new Error("no edit");
    const changes = changesOfSavedDoc(created.change.docId, saveMemoryDoc(e2.doc));
    expect(changes.map((c) => c.hash)).toEqual([created.change.hash, e1?.change.hash, e2.change.hash]);
    expect(changes[2].deps).toEqual([e1?.change.hash]);
    expect(docHasChange(e2.doc, created.change.hash)).toBe(true);
    expect(docHasChange(e2.doc, "ab".repeat(32))).toBe(false);
  });

  it("a corrupted chunk is not trusted from its header: Automerge decodes (and refuses) it", () => {
    const created = createMemoryDoc(sampleMemory({ content: "x" }), newActorId());
    const bad = new Uint8Array(created.change.bytes);
    bad[bad.length - 1] ^= 0xff;
    expect(changeChunkMeta(bad)).toBeNull();
    expect(() => A.decodeChange(bad)).toThrow();
  });
});
