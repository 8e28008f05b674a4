import { describe, expect, it } from "vitest";
import { MemoryService } from "@tribalmemory/shared/service/memory-service";
import { createHashingProvider } from "@tribalmemory/shared/embed/hashing";
import { newActorId } from "@tribalmemory/shared/memory/document";
import { SqliteMemoryStore } from "./sqlite-store.ts";

describe("smoke", () => {
  it("remembers and recalls", async () => {
    const store = new SqliteMemoryStore({ path: ":memory:" });
    const svc = new MemoryService({ store, actor: newActorId(), instanceId: "test" });
    await svc.setEmbedder({ provider: createHashingProvider(), calibration: { floor: 0.1, ceiling: 0.9, weight: 0.5 }, dedupCosine: 0.97 });
    const a = await svc.remember({ content: "We moved billing from MySQL to Postgres", source_type: "user_explicit", tags: ["db"] });
    const b = await svc.remember({ content: "Alice prefers tabs over spaces", source_type: "user_explicit" });
    const dup = await svc.remember({ content: "we moved billing from mysql to postgres.", source_type: "user_explicit", tags: ["x"] });
    expect(dup.status).toBe("duplicate");
    expect(dup.memory.tags).toEqual(["db", "x"]);
    const r = await svc.recall({ query: "which database for billing?", limit: 5, min_relevance: 0, include_superseded: false, sources: "memories" });
    console.log(JSON.stringify(r, null, 1));
    expect(r.results[0].memory.id).toBe(a.memory.id);
    const c = await svc.correct({ original_id: a.memory.id, corrected_content: "Billing moved from MySQL to CockroachDB" });
    const r2 = await svc.recall({ query: "billing database", limit: 5, min_relevance: 0, include_superseded: false, sources: "memories" });
    expect(r2.results.map((x) => x.memory.id)).toEqual([c.memory.id]);
    await svc.forget(b.memory.id);
    console.log(await svc.stats(), store.consistencyReport());
  });
});
