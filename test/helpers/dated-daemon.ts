import { afterAll, beforeAll, expect } from "vitest";
import { type ApiClient, startTestDaemon, tempHome } from "./daemon.ts";

/** A memory as a JSONL import line: its id and created_at are kept, so it can be dated in the past. */
export interface DatedMemory {
  id: string;
  content: string;
  created_at: string;
}

/**
 * A daemon for the enclosing `describe`: started before its tests with `memories` imported (every
 * one, or the set-up fails), closed and its home removed after them. Tests call `.api`.
 */
export function daemonHolding(memories: () => DatedMemory[]): { readonly api: ApiClient } {
  const h = tempHome();
  let d: Awaited<ReturnType<typeof startTestDaemon>> | undefined;
  beforeAll(async () => {
    d = await startTestDaemon(h.home);
    const lines = memories();
    const r = await d.api.importJsonl([{ manifest: { schema_version: "1.0" } }, ...lines]);
    expect(r.body).toMatchObject({ imported: lines.length });
  });
  afterAll(async () => {
    await d?.close();
    h.cleanup();
  });
  return {
    get api() {
      if (!d) throw new Error("the daemon starts in beforeAll");
      return d.api;
    },
  };
}
