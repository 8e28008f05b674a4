/** One ranked list entering fusion: ids best-first with each one's calibrated strength in 0..1. */
export interface RankedList {
  name: string;
  weight: number;
  hits: { id: string; strength: number; raw: number; matched?: string[] }[];
}

export interface FusedHit {
  id: string;
  score: number;
  signals: Record<string, { rank: number; score: number; strength: number; matched?: string[] }>;
}

/**
 * Reciprocal-rank fusion weighted by each list's trust and each hit's strength.
 *
 * Plain RRF was measured worse than BM25 alone when the embedder is weak, so every list has a
 * weight (a weak embedder is a hint, not a vote) and a hit's contribution is scaled by how
 * strong its own signal is. The result is in 0..1: 1 means first in every list with the
 * strongest possible signal, so `min_relevance` means the same for every query.
 */
export function reciprocalRankFusion(lists: RankedList[], k = 10): FusedHit[] {
  const active = lists.filter((l) => l.weight > 0);
  const totalWeight = active.reduce((s, l) => s + l.weight, 0);
  if (totalWeight === 0) return [];
  const fused = new Map<string, FusedHit>();
  for (const list of active) {
    list.hits.forEach((hit, index) => {
      const rank = index + 1;
      const contribution = (list.weight * hit.strength * (k + 1)) / (k + rank) / totalWeight;
      let entry = fused.get(hit.id);
      if (!entry) {
        entry = { id: hit.id, score: 0, signals: {} };
        fused.set(hit.id, entry);
      }
      entry.score += contribution;
      entry.signals[list.name] = hit.matched
        ? { rank, score: hit.raw, strength: hit.strength, matched: hit.matched }
        : { rank, score: hit.raw, strength: hit.strength };
    });
  }
  return [...fused.values()].sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : 1));
}

/** Map a cosine similarity onto 0..1 between a model's "unrelated" and "same meaning" levels. */
export function vectorStrength(cosine: number, floor: number, ceiling: number): number {
  return Math.min(1, Math.max(0, (cosine - floor) / (ceiling - floor)));
}

/**
 * BM25 has no fixed scale; relative to the best hit of the query, damped by how strong that
 * best hit is in absolute terms (a lone weak match should not score 1).
 */
export function keywordStrengths(scores: number[], saturation = 4): number[] {
  // A match is evidence even when BM25 is ~0 (tiny stores give every term an idf near 0).
  const best = Math.max(0, ...scores);
  if (best <= 1e-6) return scores.map(() => 0.3);
  const absolute = best / (best + saturation);
  return scores.map((s) => 0.3 + 0.7 * (Math.max(0, s) / best) * (0.5 + 0.5 * absolute));
}
