import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { startTestDaemon, tempHome } from "../helpers/daemon.ts";

type Daemon = Awaited<ReturnType<typeof startTestDaemon>>;

describe("export and import", () => {
  const homes: ReturnType<typeof tempHome>[] = [];
  let src: Daemon;
  let dst: Daemon;
  const ids: string[] = [];
  beforeAll(async () => {
    for (let i = 0; i < 2; i++) homes.push(tempHome());
    src = await startTestDaemon(homes[0].home);
    dst = await startTestDaemon(homes[1].home, { embedding: "none" });
    for (let i = 0; i < 30; i++) {
      const r = await src.api.post("/v1/remember", {
        content: `exported fact ${i} about the quasar service`,
        tags: [i % 2 ? "odd" : "even"],
      });
      ids.push(r.body.memory_id);
    }
    await src.api.post("/v1/correct", {
      original_id: ids[0],
      corrected_content: "exported fact 0 was wrong: the pulsar service",
    });
  });
  afterAll(async () => {
    await src.close();
    await dst.close();
    for (const h of homes) h.cleanup();
  });

  it("exports TribalMemory's bundle with manifest and entries", async () => {
    const r = await src.api.post("/v1/export", {});
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ success: true, memory_count: 31 });
    expect(r.body.bundle.manifest).toMatchObject({
      schema_version: "1.0",
      embedding: { model_name: "hashing-bow-384", dimensions: 384 },
      memory_count: 31,
    });
    expect(r.body.bundle.entries[0]).toHaveProperty("content");
    const odd = await src.api.post("/v1/export", { tags: ["odd"] });
    expect(odd.body.memory_count).toBe(15);
  });

  // An export with embeddings ran the model again on every memory (~35 ms each with USE-lite:
  // hours at 1M); it now reads the vectors the store keeps.
  it("exports the stored vectors with include_embeddings, without running the model", async () => {
    const provider = src.service.embedding?.provider;
    if (!provider) throw new Error("the source daemon has a model");
    const embed = vi.spyOn(provider, "embed");
    try {
      const r = await src.api.post("/v1/export", { include_embeddings: true });
      expect(r.status).toBe(200);
      expect(embed).not.toHaveBeenCalled();
      const entries = r.body.bundle.entries as { content: string; embedding: number[] | null }[];
      expect(entries).toHaveLength(31);
      embed.mockRestore();
      const again = await provider.embed(
        entries.map((e) => e.content),
        "passage",
      );
      entries.forEach((e, i) => {
        expect(e.embedding).toHaveLength(provider.dims);
        expect(e.embedding).toEqual(Array.from(again[i], (x) => Math.round(x * 1e6) / 1e6));
      });
    } finally {
      embed.mockRestore();
    }
  });

  it("imports a bundle into another daemon, keeps ids and supersedes, and indexes it", async () => {
    const bundle = (await src.api.post("/v1/export", {})).body.bundle;
    const r = await dst.api.post("/v1/import", { bundle });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({
      success: true,
      total: 31,
      imported: 31,
      errors: 0,
      needs_reembedding: false,
    });
    expect((await dst.api.get(`/v1/memory/${ids[5]}`)).body.content).toBe(
      "exported fact 5 about the quasar service",
    );
    const recall = await dst.api.post("/v1/recall", { query: "pulsar service" });
    expect(recall.body.results[0].memory.content).toContain("pulsar");
    const old = await dst.api.post("/v1/recall", { query: "exported fact 0 quasar", limit: 50 });
    expect(old.body.results.map((x: { memory: { id: string } }) => x.memory.id)).not.toContain(ids[0]);
  });

  it("resolves id conflicts by skip, overwrite or merge, and dry_run writes nothing", async () => {
    const entry = {
      id: ids[3],
      content: "rewritten fact three",
      tags: ["merged"],
      updated_at: new Date(Date.now() + 60_000).toISOString(),
    };
    const bundle = { manifest: { schema_version: "1.0" }, entries: [entry] };
    expect((await dst.api.post("/v1/import", { bundle })).body).toMatchObject({ skipped: 1, imported: 0 });
    const dry = await dst.api.post("/v1/import", { bundle, conflict_resolution: "overwrite", dry_run: true });
    expect(dry.body).toMatchObject({ overwritten: 1, dry_run: true });
    expect((await dst.api.get(`/v1/memory/${ids[3]}`)).body.content).toBe(
      "exported fact 3 about the quasar service",
    );
    await dst.api.post("/v1/import", { bundle, conflict_resolution: "merge" });
    const merged = (await dst.api.get(`/v1/memory/${ids[3]}`)).body;
    expect(merged.content).toBe("rewritten fact three");
    expect(merged.tags).toEqual(["merged", "odd"]);
    await dst.api.post("/v1/import", {
      bundle: { ...bundle, entries: [{ ...entry, content: "overwritten fact three", tags: ["x"] }] },
      conflict_resolution: "overwrite",
    });
    expect((await dst.api.get(`/v1/memory/${ids[3]}`)).body).toMatchObject({
      content: "overwritten fact three",
      tags: ["x"],
    });
  });

  it("streams JSONL and reports a corrupt line by number, importing the rest", async () => {
    const jsonl = (await src.api.get("/v1/export?format=jsonl")).body as string;
    const lines = jsonl.trim().split("\n");
    expect(JSON.parse(lines[0])).toHaveProperty("manifest");
    expect(lines).toHaveLength(32);
    const fresh = tempHome();
    homes.push(fresh);
    const d3 = await startTestDaemon(fresh.home);
    try {
      const broken = [...lines];
      broken[4] = '{"content": "unterminated';
      broken[7] = '{"content": ""}';
      const abort = await d3.api.raw(
        "POST",
        "/v1/import?on_error=abort",
        broken.join("\n"),
        "application/x-ndjson",
      );
      expect(abort.status).toBe(422);
      expect(abort.body.error.code).toBe("IMPORT_INVALID");
      expect(abort.body.error.message).toContain("line 5");
      expect((await d3.api.get("/v1/stats")).body.total_memories).toBe(0);
      const skip = await d3.api.raw("POST", "/v1/import", broken.join("\n"), "application/x-ndjson");
      expect(skip.status).toBe(201);
      expect(skip.body).toMatchObject({ imported: 29, errors: 2 });
      expect(skip.body.error_details[0]).toMatch(/^line 5: not JSON/);
      expect(skip.body.error_details[1]).toMatch(/^line 8: content is empty/);
    } finally {
      await d3.close();
    }
  });

  it("re-embeds imported memories when the bundle's model differs", async () => {
    const fresh = tempHome();
    homes.push(fresh);
    const d4 = await startTestDaemon(fresh.home);
    try {
      const bundle = {
        manifest: {
          schema_version: "1.0",
          embedding: { model_name: "text-embedding-3-small", dimensions: 1536 },
        },
        entries: [{ content: "vectors from another model", embedding: Array(1536).fill(0.01) }],
      };
      const r = await d4.api.post("/v1/import", { bundle });
      expect(r.body).toMatchObject({ imported: 1, needs_reembedding: true });
      // Vectors follow from the background backfill, not the import request.
      await d4.service.scheduleBackfill();
      expect((await d4.api.get("/v1/stats")).body).toMatchObject({ embedded: 1, missing_embeddings: 0 });
    } finally {
      await d4.close();
    }
  });
});
