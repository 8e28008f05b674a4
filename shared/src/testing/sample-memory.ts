import { newMemoryId } from "../memory/ids.ts";
import type { Memory } from "../memory/types.ts";

/** A whole memory record for tests and benches: a fresh id, now, and the fields given. */
export function sampleMemory(fields: Partial<Memory> = {}): Memory {
  const now = new Date().toISOString();
  return {
    id: newMemoryId(),
    content: "a sample memory",
    source_type: "import",
    source_instance: "test",
    tags: [],
    context: null,
    confidence: 1,
    supersedes: null,
    duplicate_of: null,
    created_at: now,
    updated_at: now,
    deleted: false,
    ...fields,
  };
}
