import * as A from "@automerge/automerge";
import { describe, expect, it } from "vitest";
import { createMemoryDoc, editMemoryDoc, type MemoryDoc } from "./document.ts";
import { memoryHistory, nameDevices } from "./history.ts";
import type { Memory } from "./types.ts";

const base: Memory = {
  id: "0199d4a0-0000-7000-8000-000000000001",
  content: "billing uses MySQL",
  source_type: "user_explicit",
  source_instance: "claude-code@laptop",
  tags: ["infra"],
  context: null,
  confidence: 1,
  supersedes: null,
  duplicate_of: null,
  created_at: "2026-01-05T10:00:00.000Z",
  updated_at: "2026-01-05T10:00:00.000Z",
  deleted: false,
};

const LAPTOP = "aa".repeat(16);
const DESKTOP = "bb".repeat(16);

describe("memoryHistory", () => {
  it("lists the creation with its agent and fields, then each edit with before and after", () => {
    const created = createMemoryDoc(base, LAPTOP);
    const edited = editMemoryDoc(created.doc, {
      content: "billing uses Postgres 16",
      addTags: ["db"],
      updated_at: "2026-01-06T09:30:00.000Z",
    });
    const forgotten = editMemoryDoc(edited!.doc, { deleted: true, updated_at: "2026-01-07T08:00:00.000Z" });
    const history = memoryHistory(forgotten!.doc);
    expect(history.map((h) => h.kind)).toEqual(["created", "edited", "forgotten"]);
    expect(history[0]).toMatchObject({
      actor: LAPTOP,
      seq: 1,
      at: "2026-01-05T10:00:00.000Z",
      agent: "claude-code@laptop",
      content_clock: null,
    });
    expect(history[0].changes).toContainEqual({ field: "content", from: null, to: "billing uses MySQL" });
    expect(history[0].changes).toContainEqual({ field: "tags", from: null, to: ["infra"] });
    expect(history[1].changes).toEqual([
      { field: "content", from: "billing uses MySQL", to: "billing uses Postgres 16" },
      { field: "tags", from: ["infra"], to: ["db", "infra"] },
    ]);
    expect(history[1].agent).toBeNull();
    expect(history[1].content_clock).toMatch(
      new RegExp(`^${Date.parse("2026-01-06T09:30:00.000Z")}:0:${LAPTOP}$`),
    );
    expect(history[2].changes).toEqual([{ field: "deleted", from: false, to: true }]);
  });

  it("shows each of two concurrent edits against the state its machine saw", () => {
    const created = createMemoryDoc(base, LAPTOP);
    const onDesktop = A.load<MemoryDoc>(A.save(created.doc), { actor: DESKTOP });
    const laptop = editMemoryDoc(created.doc, {
      content: "laptop says Postgres",
      updated_at: "2026-01-06T09:00:00.000Z",
    });
    const desktop = editMemoryDoc(onDesktop, { addTags: ["db"], updated_at: "2026-01-06T09:00:05.000Z" });
    const merged = A.merge(A.clone(laptop!.doc), desktop!.doc);
    const history = memoryHistory(merged);
    expect(history).toHaveLength(3);
    const byActor = new Map(history.slice(1).map((h) => [h.actor, h.changes]));
    expect(byActor.get(LAPTOP)).toEqual([
      { field: "content", from: "billing uses MySQL", to: "laptop says Postgres" },
    ]);
    expect(byActor.get(DESKTOP)).toEqual([{ field: "tags", from: ["infra"], to: ["db", "infra"] }]);
  });

  it("names the device of each actor the server knows, and leaves the others null", () => {
    const created = createMemoryDoc(base, LAPTOP);
    const onDesktop = A.load<MemoryDoc>(A.save(created.doc), { actor: DESKTOP });
    const desktop = editMemoryDoc(onDesktop, { addTags: ["db"], updated_at: "2026-01-06T09:00:05.000Z" });
    const history = memoryHistory(desktop!.doc);
    expect(history.map((h) => h.device)).toEqual([null, null]);
    const named = nameDevices(history, new Map([[DESKTOP, "desk-01"]]));
    expect(named.map((h) => [h.actor, h.device])).toEqual([
      [LAPTOP, null],
      [DESKTOP, "desk-01"],
    ]);
    expect(named.map((h) => h.changes)).toEqual(history.map((h) => h.changes));
  });
});
