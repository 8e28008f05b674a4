import { isStopword } from "@tribalmemory/shared/recall/keyword-query";
import { CATEGORY_NAMES, type LocomoQuestion, type LocomoTurn } from "./_locomo-data.ts";

/**
 * Plain BM25 over one conversation's turns (k1 1.2, b 0.75, lowercase words, no stemming; the
 * query's stopwords dropped, as keyword search drops them): the baseline the pipeline must beat,
 * computed on the same turns and questions. Keeping stopwords scores 0.448 recall@5, not 0.499.
 */
export function bm25Index(turns: LocomoTurn[]): (query: string, k: number) => string[] {
  const words = (s: string) => s.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
  const docs = turns.map((t) => {
    const tf = new Map<string, number>();
    const w = words(t.content);
    for (const x of w) tf.set(x, (tf.get(x) ?? 0) + 1);
    return { id: t.diaId, tf, len: w.length };
  });
  const avg = docs.reduce((a, d) => a + d.len, 0) / Math.max(1, docs.length);
  const df = new Map<string, number>();
  for (const d of docs) for (const x of d.tf.keys()) df.set(x, (df.get(x) ?? 0) + 1);
  const n = docs.length;
  return (query, k) => {
    const terms = [...new Set(words(query))].filter((w) => !isStopword(w));
    const scored = docs.map((d) => {
      let s = 0;
      for (const t of terms) {
        const f = d.tf.get(t);
        if (!f) continue;
        const idf = Math.log(1 + (n - (df.get(t) ?? 0) + 0.5) / ((df.get(t) ?? 0) + 0.5));
        s += (idf * f * 2.2) / (f + 1.2 * (0.25 + (0.75 * d.len) / avg));
      }
      return { id: d.id, s };
    });
    return scored
      .filter((x) => x.s > 0)
      .sort((a, b) => b.s - a.s)
      .slice(0, k)
      .map((x) => x.id);
  };
}

export interface Scores {
  n: number;
  "recall@1": number;
  "recall@5": number;
  "recall@10": number;
  "hit@5": number;
}

/** Per category and overall means of turn-level evidence recall@k and hit@5. */
export function scoreRankings(questions: LocomoQuestion[], ranked: string[][]): Record<string, Scores> {
  const groups = new Map<string, number[][]>();
  questions.forEach((q, i) => {
    const ev = new Set(q.evidence);
    const at = (k: number) => ranked[i].slice(0, k).filter((d) => ev.has(d)).length / ev.size;
    const row = [at(1), at(5), at(10), ranked[i].slice(0, 5).some((d) => ev.has(d)) ? 1 : 0];
    for (const g of [CATEGORY_NAMES[q.category], "overall"]) {
      if (!groups.has(g)) groups.set(g, []);
      groups.get(g)?.push(row);
    }
  });
  const out: Record<string, Scores> = {};
  for (const g of [...Object.values(CATEGORY_NAMES), "overall"]) {
    const rows = groups.get(g) ?? [];
    const mean = (j: number) =>
      Math.round((rows.reduce((a, r) => a + r[j], 0) / Math.max(1, rows.length)) * 1000) / 1000;
    out[g] = {
      n: rows.length,
      "recall@1": mean(0),
      "recall@5": mean(1),
      "recall@10": mean(2),
      "hit@5": mean(3),
    };
  }
  return out;
}
