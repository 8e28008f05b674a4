import type { SearchHit } from "../store/memory-store.ts";
import { memoByText } from "./text-memo.ts";

export interface VectorCalibration {
  /** Cosine at or below which two texts are unrelated for this model. */
  floor: number;
  /** Cosine at or above which two texts say the same thing. */
  ceiling: number;
  /** Trust in this model relative to keyword search (1 = equal). */
  weight: number;
}

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

/**
 * A rough stem, close enough to FTS5's porter tokenizer for deciding which query terms a text
 * contains: plural, past and gerund endings dropped ("invoices" → "invoic", "invoiced" → "invoic").
 */
export function lightStem(word: string): string {
  let w = word.toLowerCase();
  if (w.length > 4 && w.endsWith("ies")) return `${w.slice(0, -3)}y`;
  for (const suffix of ["ing", "ed", "es", "s"]) {
    if (w.length - suffix.length >= 3 && w.endsWith(suffix)) {
      w = w.slice(0, -suffix.length);
      break;
    }
  }
  if (w.length > 3 && w.endsWith("e")) w = w.slice(0, -1);
  return w;
}

/** The stems (`lightStem`) of a text's words (a shared set: read it, never change it). */
export const stemSet: (content: string) => ReadonlySet<string> = memoByText((content) => {
  const stems = new Set<string>();
  for (const token of content
    .toLowerCase()
    .normalize("NFKC")
    .match(/[\p{L}\p{N}_]+/gu) ?? [])
    stems.add(lightStem(token));
  return stems;
});

/** The query terms (already lower-cased, see `keywordTerms`) that a text contains. */
export function matchedTerms(terms: readonly string[], content: string): string[] {
  const stems = stemSet(content);
  return terms.filter((t) => stems.has(lightStem(t)));
}

/**
 * Keyword search ORs the query's terms, so a hit matching 1 of 6 content terms is weak evidence
 * (a reworded question matches only incidental words) while a hit matching most of them is
 * strong. `coverage[i]` is hit i's fraction of the query's terms (0..1); a hit covering at least
 * `full` of them (default half) counts fully, less in proportion. Returns the scaled strengths
 * and the list's weight factor: the best coverage among the head of the list, so a list whose
 * best hits all match a word or two of the query only nudges the order.
 */
export function coverageScaled(
  strengths: number[],
  coverage: number[],
  full = 0.5,
  head = 10,
): { strengths: number[]; weight: number } {
  const evidence = strengths.map((_, i) => Math.min(1, Math.max(0, coverage[i] ?? 1) / full));
  return {
    strengths: strengths.map((s, i) => s * evidence[i]),
    weight: evidence.length ? Math.max(...evidence.slice(0, head)) : 1,
  };
}

/**
 * The keyword strength a hit keeps when none of the query's terms is in its own text (the
 * thread-aware index matched it through a neighbour): the previous turn's column weight. Without
 * it, facts an agent remembered one after another outrank each other's direct matches.
 */
export const CONTEXT_ONLY_CREDIT = 0.5;

/** The keyword and vector lists of a search, on fusion's 0..1 strengths (keyword hits scaled by the query terms they cover, when known). */
export function buildLists(
  keywordHits: SearchHit[] | null,
  vectorHits: SearchHit[] | null,
  calibration: VectorCalibration,
  coverage?: { terms: number; matched: Map<string, string[]>; idf: Map<string, number> | null },
  contextOnly?: Set<string>,
): RankedList[] {
  const lists: RankedList[] = [];
  if (keywordHits) {
    let strengths = keywordStrengths(keywordHits.map((h) => h.score));
    let weight = 1;
    if (coverage) {
      // A hit whose content could not be read (or matched only through the tokenizer's own
      // stemming) counts as covering one term: it did match.
      const idf = coverage.idf;
      const total = idf ? [...idf.values()].reduce((a, b) => a + b, 0) : 0;
      const fractions = keywordHits.map((h) => {
        const matched = coverage.matched.get(h.id) ?? [];
        if (idf && total > 0 && matched.length) {
          return matched.reduce((sum, t) => sum + (idf.get(t) ?? 0), 0) / total;
        }
        return Math.max(1, matched.length) / coverage.terms;
      });
      const scaled = coverageScaled(strengths, fractions);
      strengths = scaled.strengths;
      weight = scaled.weight;
    }
    // Matched through a neighbour's words alone: context, not the memory's own evidence.
    if (contextOnly?.size)
      strengths = strengths.map((s, i) => (contextOnly.has(keywordHits[i].id) ? s * CONTEXT_ONLY_CREDIT : s));
    lists.push({
      name: "keyword",
      weight,
      hits: keywordHits.map((h, i) => {
        const matched = coverage?.matched.get(h.id);
        return matched
          ? { id: h.id, strength: strengths[i], raw: h.score, matched }
          : { id: h.id, strength: strengths[i], raw: h.score };
      }),
    });
  }
  if (vectorHits) {
    const { floor, ceiling, weight } = calibration;
    lists.push({
      name: "vector",
      weight,
      hits: vectorHits.map((h) => ({
        id: h.id,
        strength: vectorStrength(h.score, floor, ceiling),
        raw: h.score,
      })),
    });
  }
  return lists;
}

/**
 * Keyword and vector hits fused on TribalMemory's 0..1 scale. Memories and session chunks both
 * go through here, so `sources=all` can merge them by score.
 */
export function fuseSearchHits(
  keywordHits: SearchHit[] | null,
  vectorHits: SearchHit[] | null,
  calibration: VectorCalibration,
): { lists: RankedList[]; fused: FusedHit[] } {
  const lists = buildLists(keywordHits, vectorHits, calibration);
  return { lists, fused: reciprocalRankFusion(lists) };
}
