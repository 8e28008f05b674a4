import type { Memory, MemoryFilters } from "../memory/types.ts";
import type { MemoryStore, SearchHit } from "../store/memory-store.ts";
import {
  type FusedHit,
  keywordStrengths,
  type RankedList,
  reciprocalRankFusion,
  vectorStrength,
} from "./fusion.ts";
import { keywordTerms } from "./keyword-query.ts";
import { parseTimeFilter, stripTimePhrase, type TimeFilter } from "./time-filter.ts";

export interface VectorCalibration {
  /** Cosine at or below which two texts are unrelated for this model. */
  floor: number;
  /** Cosine at or above which two texts say the same thing. */
  ceiling: number;
  /** Trust in this model relative to keyword search (1 = equal). */
  weight: number;
}

export interface RecallDeps {
  store: MemoryStore;
  /** Embeds the query, or returns null when no model is loaded (keyword recall still works). */
  embedQuery: ((text: string) => Promise<Float32Array | null>) | null;
  calibration: VectorCalibration;
  now?: () => Date;
}

export interface RecallQuery {
  query: string;
  limit: number;
  minRelevance: number;
  filters: MemoryFilters;
}

export interface RecallSignals {
  vector?: { rank: number; similarity: number };
  keyword?: { rank: number; bm25: number };
}

export interface RecallHit {
  memory: Memory;
  score: number;
  signals: RecallSignals;
}

export interface RecallOutcome {
  results: RecallHit[];
  /** The time range taken from the query's words, when no explicit after/before was given. */
  timeFilter: TimeFilter | null;
  /** Which lists ran: tells a caller that vector search was skipped for want of a model. */
  lists: string[];
  timings: { embedMs: number; searchMs: number; totalMs: number };
}

export async function recallMemories(deps: RecallDeps, q: RecallQuery): Promise<RecallOutcome> {
  const t0 = performance.now();
  const filters: MemoryFilters = { ...q.filters };
  let timeFilter: TimeFilter | null = null;
  if (filters.after === undefined && filters.before === undefined) {
    timeFilter = parseTimeFilter(q.query, deps.now ? deps.now() : new Date());
    if (timeFilter) {
      filters.after = timeFilter.after;
      filters.before = timeFilter.before;
    }
  }
  const text = stripTimePhrase(q.query, timeFilter) || q.query;
  const pool = Math.max(q.limit * 4, 40);
  const terms = keywordTerms(text);

  const embedStart = performance.now();
  const vector = deps.embedQuery ? await deps.embedQuery(text) : null;
  const embedMs = performance.now() - embedStart;

  const searchStart = performance.now();
  const [vectorHits, keywordHits] = await Promise.all([
    vector ? deps.store.vectorSearch(vector, pool, filters) : Promise.resolve(null),
    terms.length ? deps.store.keywordSearch(terms, pool, filters) : Promise.resolve([]),
  ]);
  const { lists, fused: all } = fuseSearchHits(keywordHits, vectorHits, deps.calibration);
  const fused = all.filter((f) => f.score >= q.minRelevance && f.score > 0);
  const top = fused.slice(0, q.limit);
  const memories = await deps.store.getMany(top.map((f) => f.id));
  const byId = new Map(memories.map((m) => [m.id, m]));
  const results: RecallHit[] = [];
  for (const f of top) {
    const memory = byId.get(f.id);
    if (!memory) continue;
    const signals: RecallSignals = {};
    if (f.signals.vector)
      signals.vector = { rank: f.signals.vector.rank, similarity: round(f.signals.vector.score) };
    if (f.signals.keyword)
      signals.keyword = { rank: f.signals.keyword.rank, bm25: round(f.signals.keyword.score) };
    results.push({ memory, score: round(Math.min(1, f.score)), signals });
  }
  const end = performance.now();
  return {
    results,
    timeFilter,
    lists: lists.map((l) => l.name),
    timings: { embedMs, searchMs: end - searchStart, totalMs: end - t0 },
  };
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
  const lists: RankedList[] = [];
  if (keywordHits) {
    const strengths = keywordStrengths(keywordHits.map((h) => h.score));
    lists.push({
      name: "keyword",
      weight: 1,
      hits: keywordHits.map((h, i) => ({ id: h.id, strength: strengths[i], raw: h.score })),
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
  return { lists, fused: reciprocalRankFusion(lists) };
}

function round(x: number): number {
  return Math.round(x * 10000) / 10000;
}
