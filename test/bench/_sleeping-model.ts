/**
 * A model that takes `ms` without using a CPU (a timer in its worker): `pnpm bench query-cost`
 * uses it to show what overlapping the row's write with the model saves, on a machine too
 * loaded for two threads to run at once.
 */
import type { EmbeddingProvider } from "@tribalmemory/shared/embed/provider";

export async function createProvider(options: Record<string, unknown>): Promise<EmbeddingProvider> {
  const ms = Number(options.ms ?? 40);
  return {
    modelId: "sleeping-model",
    dims: 16,
    async embed(texts) {
      await new Promise((r) => setTimeout(r, ms));
      return texts.map((t) =>
        Float32Array.from({ length: 16 }, (_, i) => ((t.charCodeAt(i % t.length) + i) % 7) + 1),
      );
    },
    async close() {},
  };
}
