import {
  createMemoryDoc,
  loadMemoryDoc,
  materializeMemory,
  newActorId,
} from "@tribalmemory/shared/memory/document";
import { newMemoryId } from "@tribalmemory/shared/memory/ids";
import { materializeRootChange } from "@tribalmemory/shared/sync/apply";
import fc from "fast-check";
import { expect, it } from "vitest";

it("reads a creating change to the same memory as applying it to a document", () => {
  const actor = newActorId();
  const text = fc.string({ minLength: 1, maxLength: 40 });
  fc.assert(
    fc.property(
      text,
      fc.array(fc.string({ minLength: 1, maxLength: 8 }), { maxLength: 4 }),
      fc.option(fc.oneof(text, fc.dictionary(fc.string({ maxLength: 5 }), fc.integer()))),
      fc.double({ min: 0, max: 1, noNaN: true }),
      fc.boolean(),
      fc.option(fc.constant("01a20dfb-efdc-75c2-a8d9-36b933120c1e")),
      (content, tags, context, confidence, deleted, supersedes) => {
        const now = new Date().toISOString();
        const memory = {
          id: newMemoryId(),
          content,
          source_type: "import",
          source_instance: "prop",
          tags: [...new Set(tags)].sort(),
          context,
          confidence,
          supersedes,
          duplicate_of: null,
          created_at: now,
          updated_at: now,
          deleted,
        };
        const { change } = createMemoryDoc(memory, actor);
        const fast = materializeRootChange(change.bytes);
        expect(fast).toEqual(materializeMemory(loadMemoryDoc(change.bytes, actor)));
        expect(fast?.id).toBe(memory.id);
      },
    ),
    { numRuns: 200 },
  );
});
