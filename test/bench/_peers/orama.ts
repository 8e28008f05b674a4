/**
 * Orama (`@orama/orama`), in memory: a `string` text field and a `vector[dims]` field, hybrid
 * search (its BM25 + cosine, fused by its own weights). The vector threshold (`similarity`,
 * default 0.8) is lowered to 0.2: USE-lite's answers sit at cosine 0.3–0.6, so the default would
 * make hybrid keyword-only. Orama keeps everything on the JS heap, so it builds in the process
 * that queries (from the corpus read in batches) and its RSS is the index's.
 */
import { create, insertMultiple, search } from "@orama/orama";
import type { PeerEngine, PeerIndex } from "./engine.ts";

// Built in the query process (onDisk false): open() hands out what build() made.
let built: { db: ReturnType<typeof newDb> } | null = null;

function newDb(dims: number) {
  return create({ schema: { id: "string", text: "string", embedding: `vector[${dims}]` } as const });
}

export const orama: PeerEngine = {
  name: "orama",
  label: "Orama, in memory, hybrid (BM25 + vector)",
  vectors: true,
  onDisk: false,
  skip: (size) =>
    size !== "locomo" && size > 200_000
      ? "an in-memory JS index, built in the query process at each run: not run past 200k here"
      : null,
  async build(_dir, batches, info) {
    const db = newDb(info.dims);
    for (const docs of batches) {
      await insertMultiple(
        db,
        docs.map((d) => ({ id: d.id, text: d.text, embedding: Array.from(d.vector) })),
        5000,
      );
    }
    built = { db };
  },
  async open(): Promise<PeerIndex> {
    if (!built) throw new Error("Orama: open() before build() in this process");
    const { db } = built;
    return {
      async search(q, k) {
        const r = await search(db, {
          mode: "hybrid",
          term: q.text,
          vector: { value: Array.from(q.vector), property: "embedding" },
          similarity: 0.2,
          limit: k,
        });
        return r.hits.map((h) => h.id);
      },
      async vectorOnly(vector, k) {
        const r = await search(db, {
          mode: "vector",
          vector: { value: Array.from(vector), property: "embedding" },
          // 0 reads as unset (the 0.8 default, which kept ~1 hit of 10 at 100k): the smallest positive.
          similarity: Number.MIN_VALUE,
          limit: k,
        });
        return r.hits.map((h) => h.id);
      },
      async close() {
        built = null;
      },
    };
  },
};
