/**
 * Cosine levels of an embedder on the labelled set (test/eval), to choose its calibration in
 * shared/src/embed/select-embedder.ts: `floor` ≈ the typical top-1 cosine of a no-answer query
 * (what "nothing related" looks like), `ceiling` ≈ a high percentile of query→answer cosines.
 * Also checks semantic dedup: the highest cosine between two different visible memories.
 * Vectors come from the recall-quality cache (.tmp/embed-cache), so run that bench first.
 *
 *   node test/bench/embedder-calibration.ts [--embedder use-lite|glove]
 */
import { join } from "node:path";
import { createProvider as createGlove } from "../../shared/src/embed/glove-sif.ts";
import { createProvider as createUseLite } from "../../shared/src/embed/use-lite.ts";
import { loadDataset, supersededIds } from "../eval/dataset.ts";
import { cachedProvider } from "./_vector-cache.ts";

const args = process.argv.slice(2);
const embedder = args[args.indexOf("--embedder") + 1] === "glove" ? "glove" : "use-lite";
const inner =
  embedder === "glove"
    ? await createGlove({ cacheDir: join(process.cwd(), ".tmp", "models", "glove-sif-100d") })
    : await createUseLite({});
const provider = cachedProvider(inner, join(process.cwd(), ".tmp", "embed-cache"));
const { memories, queries } = loadDataset();
const hidden = supersededIds(memories);
const visible = memories.filter((m) => !hidden.has(m.id));
const mv = await provider.embed(
  visible.map((m) => m.content),
  "passage",
);
const qv = await provider.embed(
  queries.map((q) => q.query),
  "query",
);
const dot = (a: Float32Array, b: Float32Array) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
};
const row = (name: string, xs: number[]) =>
  console.log(
    `${name.padEnd(30)} n=${String(xs.length).padStart(4)} ${[0.1, 0.25, 0.5, 0.75, 0.9, 0.95]
      .map((p) => `p${p * 100}=${pct(xs, p).toFixed(3)}`)
      .join(" ")}`,
  );
const index = new Map(visible.map((m, i) => [m.id, i]));
const noAnswerTop1: number[] = [];
const answerTop1: number[] = [];
const answerCos: number[] = [];
const paraphraseCos: number[] = [];
queries.forEach((q, qi) => {
  const sims = mv.map((v) => dot(qv[qi], v));
  const top1 = Math.max(...sims);
  if (q.relevant_ids.length === 0) noAnswerTop1.push(top1);
  else answerTop1.push(top1);
  for (const id of q.relevant_ids) {
    const i = index.get(id);
    if (i === undefined) continue;
    answerCos.push(sims[i]);
    if (q.category === "paraphrase") paraphraseCos.push(sims[i]);
  }
});
console.log(`${provider.modelId}: ${visible.length} memories, ${queries.length} queries`);
row("no-answer top-1 cosine", noAnswerTop1);
row("answerable top-1 cosine", answerTop1);
row("query→answer cosine", answerCos);
row("paraphrase query→answer", paraphraseCos);
// Semantic dedup: the nearest other memory of each memory; different facts must stay below it.
const nearest: { c: number; a: number; b: number }[] = [];
for (let i = 0; i < mv.length; i++) {
  let best = -1;
  let bj = -1;
  for (let j = 0; j < mv.length; j++) {
    if (j === i) continue;
    const c = dot(mv[i], mv[j]);
    if (c > best) [best, bj] = [c, j];
  }
  nearest.push({ c: best, a: i, b: bj });
}
row(
  "memory→nearest other memory",
  nearest.map((n) => n.c),
);
const over = nearest.filter((n) => n.c >= 0.97 && n.a < n.b);
console.log(`pairs of different memories at cosine ≥ 0.97: ${over.length}`);
for (const n of over.slice(0, 3))
  console.log(
    `  ${n.c.toFixed(3)}\n    ${visible[n.a].content.slice(0, 110)}\n    ${visible[n.b].content.slice(0, 110)}`,
  );
await provider.close();
