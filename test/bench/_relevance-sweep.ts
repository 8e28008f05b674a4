/**
 * What a `min_relevance` threshold costs and buys: for each level, the answerable queries'
 * recall@5 with the results below it dropped, and for no-answer queries how often nothing comes
 * back and how many results do on average. Both recall benches print it for the full pipeline.
 */
export const SWEEP_LEVELS = [0, 0.02, 0.04, 0.06, 0.08, 0.1, 0.12, 0.15, 0.2, 0.25];

export interface ScoredQuery {
  /** The results best first, with their scores. */
  results: { id: string; score: number }[];
  /** Ids that answer it; empty for a no-answer query. */
  relevant: string[];
}

export interface SweepRow {
  min_relevance: number;
  answerable_recall_at_5: number;
  no_answer_empty: number | null;
  no_answer_mean_results: number | null;
}

export function relevanceSweep(queries: ScoredQuery[], levels = SWEEP_LEVELS): SweepRow[] {
  const answerable = queries.filter((q) => q.relevant.length > 0);
  const noAnswer = queries.filter((q) => q.relevant.length === 0);
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
  const round = (x: number) => Math.round(x * 1000) / 1000;
  return levels.map((t) => {
    const kept = (q: ScoredQuery) => q.results.filter((r) => r.score >= t);
    const recall = answerable.map((q) => {
      const rel = new Set(q.relevant);
      return (
        kept(q)
          .slice(0, 5)
          .filter((r) => rel.has(r.id)).length / rel.size
      );
    });
    return {
      min_relevance: t,
      answerable_recall_at_5: round(mean(recall)),
      no_answer_empty: noAnswer.length ? round(mean(noAnswer.map((q) => (kept(q).length ? 0 : 1)))) : null,
      no_answer_mean_results: noAnswer.length ? round(mean(noAnswer.map((q) => kept(q).length))) : null,
    };
  });
}

export function printSweep(title: string, rows: SweepRow[]): void {
  console.log(`\n${title}`);
  console.log("min_relevance  recall@5  no-answer empty  no-answer results");
  for (const r of rows) {
    const na = (x: number | null, d: number) => (x === null ? "–" : x.toFixed(d));
    console.log(
      `${r.min_relevance.toFixed(2).padStart(13)}  ${r.answerable_recall_at_5.toFixed(3).padStart(8)}  ${na(r.no_answer_empty, 3).padStart(15)}  ${na(r.no_answer_mean_results, 2).padStart(17)}`,
    );
  }
}
