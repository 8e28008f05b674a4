import type { RecallBody } from "@tribalmemory/shared/memory/schemas";
import { DEFAULT_RECALL_STEPS, type RecallSteps } from "@tribalmemory/shared/recall/pipeline";
import type { MemoryService } from "@tribalmemory/shared/service/memory-service";
import type { LocomoQuestion } from "./_locomo-data.ts";
import { type Scores, scoreRankings } from "./_locomo-score.ts";
import { relevanceSweep, type SweepRow } from "./_relevance-sweep.ts";

/**
 * Every question recalled again in-process with each pipeline step switched (off when it is on
 * by default, on when off), beside the full pipeline: which step earns its place on LoCoMo.
 * The query vectors are computed once and served from memory, so a variant costs the
 * pipeline's own time (~5 ms a question), not the model's.
 */
export async function locomoAblations(
  service: MemoryService,
  questions: LocomoQuestion[],
  diaOf: (memoryId: string) => string,
  body: Omit<RecallBody, "query" | "tags">,
  progress: (s: string) => void,
): Promise<{ rows: Record<string, Record<string, Scores>>; sweep: SweepRow[] }> {
  const info = service.embedding;
  if (info) {
    const vectors = new Map<string, Float32Array>();
    const texts = [...new Set(questions.map((q) => q.question))];
    for (let i = 0; i < texts.length; i += 64) {
      progress(`ablations: embedding questions ${i}/${texts.length}…`);
      const batch = texts.slice(i, i + 64);
      const out = await info.provider.embed(batch, "query");
      for (const [j, t] of batch.entries()) vectors.set(t, out[j]);
    }
    const inner = info.provider;
    await service.setEmbedder({
      ...info,
      provider: {
        modelId: inner.modelId,
        dims: inner.dims,
        embed: (ts, kind) => {
          const hit = kind === "query" ? ts.map((t) => vectors.get(t)) : [];
          return hit.length && hit.every((v) => v !== undefined)
            ? Promise.resolve(hit as Float32Array[])
            : inner.embed(ts, kind);
        },
        close: () => inner.close(),
      },
    });
  }
  const variants: [string, Partial<RecallSteps>][] = [["full pipeline", DEFAULT_RECALL_STEPS]];
  for (const step of Object.keys(DEFAULT_RECALL_STEPS) as (keyof RecallSteps)[]) {
    const on = DEFAULT_RECALL_STEPS[step];
    variants.push([`full ${on ? "-" : "+"} ${step}`, { ...DEFAULT_RECALL_STEPS, [step]: !on }]);
  }
  const out: Record<string, Record<string, Scores>> = {};
  let sweep: SweepRow[] = [];
  for (const [v, [name, steps]] of variants.entries()) {
    const ranked: string[][] = [];
    const scored: { results: { id: string; score: number }[]; relevant: string[] }[] = [];
    for (const [i, q] of questions.entries()) {
      if (i % 100 === 0)
        progress(`ablations: ${name} (${v + 1}/${variants.length}) ${i}/${questions.length}…`);
      const r = await service.recall({ ...body, query: q.question, tags: [q.conversation] }, steps);
      ranked.push(r.results.map((h) => diaOf(h.memory.id)));
      scored.push({
        results: r.results.map((h) => ({ id: diaOf(h.memory.id), score: h.score })),
        relevant: q.evidence,
      });
    }
    if (v === 0) sweep = relevanceSweep(scored);
    out[name] = scoreRankings(questions, ranked);
  }
  progress("");
  return { rows: out, sweep };
}
