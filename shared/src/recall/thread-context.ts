import type { Memory, MemoryFilters } from "../memory/types.ts";
import type { MemoryStore, SearchHit } from "../store/memory-store.ts";
import type { FusedHit } from "./fusion.ts";
import { lightStem, stemSet } from "./fusion.ts";

/**
 * A memory's thread (the turns written just before and after it by the same instance: see
 * `MemoryStore.threadNeighbours`) as context in ranking. A question about what A said often
 * matches B's reply; an answer spread over two turns matches neither alone.
 */
export type Neighbours = Map<string, { prev: string | null; next: string | null }>;

/**
 * Share of a hit's fused score its thread neighbours receive. Measured on LoCoMo with the
 * thread-aware keyword index: recall@5 .599 without the spread, .626 with it.
 */
export const THREAD_SPREAD = 0.15;

/**
 * Memories of one instance each written within this gap of the one before form a thread (a
 * conversation's stretch): the daemon's neighbours (sqlite-thread-fts.ts) and `sessionBoost`.
 */
export const THREAD_GAP_MS = 30 * 60_000;

/**
 * Share of the best hit's score that a hit gains from its session: the sum of the scores of the
 * hits in its stretch of conversation, over the best such sum. Answers cluster in the session
 * that matches the question best (session-then-turn). Measured: LoCoMo recall@5 .630 → .642
 * (single-hop .756 → .780, multi-hop .297 → .284), generated set .675 → .676.
 */
export const SESSION_SHARE = 0.3;

/** Hits of the other lists whose neighbours are looked up: their head (each lookup costs ~30 µs at 100k). */
const OTHER_LIST_SEEDS = 10;

/** Whose neighbours a recall needs: every keyword hit (coverage reads them), the other lists' best. */
export function threadSeeds(
  keyword: SearchHit[] | null,
  ...others: ({ id: string }[] | null | undefined)[]
): string[] {
  const ids = (keyword ?? []).map((h) => h.id);
  for (const list of others) for (const h of (list ?? []).slice(0, OTHER_LIST_SEEDS)) ids.push(h.id);
  return [...new Set(ids)];
}

/** The neighbours of the given memories within the filters, empty on a store without threads. */
export async function neighboursOf(
  store: MemoryStore,
  ids: string[],
  filters: MemoryFilters,
): Promise<Neighbours> {
  if (!store.threadNeighbours || !ids.length) return new Map();
  return store.threadNeighbours(ids, filters);
}

/**
 * Per keyword hit, the query terms its content contains — with `neighbours`, its neighbours'
 * text counted too (the thread-aware keyword index matched it through them) — and the hits
 * whose own text contains none of them (`contextOnly`: matched through a neighbour alone).
 */
export async function keywordCoverage(
  read: (ids: string[]) => Promise<Memory[]>,
  hits: SearchHit[],
  terms: string[],
  neighbours: Neighbours = new Map(),
): Promise<{ matched: Map<string, string[]>; contextOnly: Set<string> }> {
  const ids = hits.map((h) => h.id);
  const around = ids
    .flatMap((id) => [neighbours.get(id)?.prev, neighbours.get(id)?.next])
    .filter((x) => x != null);
  const memories = await read([...new Set([...ids, ...around])]);
  // Each text's words once: a hit's neighbours are most often hits themselves.
  const stems = new Map(memories.map((m) => [m.id, stemSet(m.content)]));
  const termStems = terms.map(lightStem);
  const has = (id: string | null | undefined, i: number) =>
    id != null && (stems.get(id)?.has(termStems[i]) ?? false);
  const matched = new Map<string, string[]>();
  const contextOnly = new Set<string>();
  for (const id of ids) {
    if (!stems.has(id)) continue;
    const n = neighbours.get(id);
    const mine = terms.filter((_, i) => has(id, i));
    if (!mine.length && n) contextOnly.add(id);
    matched.set(id, n ? terms.filter((_, i) => has(id, i) || has(n.prev, i) || has(n.next, i)) : mine);
  }
  return { matched, contextOnly };
}

/**
 * Each hit lends `spread` of its score to its neighbours among the hits, so a turn beside strong
 * evidence rises (the reply after the question that matched); a neighbour the query did not
 * find stays out.
 */
export function spreadToNeighbours(
  fused: FusedHit[],
  neighbours: Neighbours,
  spread = THREAD_SPREAD,
): FusedHit[] {
  const byId = new Map(fused.map((f) => [f.id, { ...f }]));
  for (const f of fused) {
    const n = neighbours.get(f.id);
    for (const id of [n?.prev, n?.next]) {
      const entry = id ? byId.get(id) : undefined;
      if (entry) entry.score += spread * f.score;
    }
  }
  return [...byId.values()].sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : 1));
}

/**
 * The head of the ranking with each hit raised by its session's strength (SESSION_SHARE). A
 * session is a run of hits of one source_instance, each within THREAD_GAP_MS of the one before;
 * a hit without its memory is its own session.
 */
export function sessionBoost(head: FusedHit[], memories: Map<string, Memory>): FusedHit[] {
  if (head.length < 2) return head;
  const placed = head.map((f) => {
    const m = memories.get(f.id);
    return { f, instance: m?.source_instance ?? f.id, at: m ? Date.parse(m.created_at) : 0 };
  });
  placed.sort((a, b) => (a.instance < b.instance ? -1 : a.instance > b.instance ? 1 : a.at - b.at));
  const sessionOf = new Map<string, number>();
  const sums: number[] = [];
  placed.forEach((p, i) => {
    const prev = placed[i - 1];
    if (!prev || prev.instance !== p.instance || p.at - prev.at > THREAD_GAP_MS) sums.push(0);
    sums[sums.length - 1] += p.f.score;
    sessionOf.set(p.f.id, sums.length - 1);
  });
  const best = Math.max(...sums);
  if (best <= 0) return head;
  const lift = SESSION_SHARE * Math.max(...head.map((f) => f.score));
  return head
    .map((f) => ({ ...f, score: f.score + (lift * sums[sessionOf.get(f.id) ?? 0]) / best }))
    .sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : 1));
}

/**
 * BM25-style idf per query term, so covering a rare term counts for more than covering a
 * common one; null when the store cannot count terms (every term then weighs the same).
 */
export async function termWeights(store: MemoryStore, terms: string[]): Promise<Map<string, number> | null> {
  if (!store.termFrequencies) return null;
  const { docs, df } = await store.termFrequencies(terms);
  return new Map(terms.map((t, i) => [t, Math.log(1 + (docs - df[i] + 0.5) / (df[i] + 0.5))]));
}

/**
 * Whether a hit has evidence of its own: a list found it by its own text, vector or entities,
 * not only through a neighbour's words (a keyword match in `contextOnly`). Context reorders what the query found; it does not add what the query did not find
 * (measured on LoCoMo: recall@5 .627 with such hits, .629 without).
 */
export function hasOwnEvidence(f: FusedHit, contextOnly: Set<string> | undefined): boolean {
  return Object.entries(f.signals).some(
    ([list, s]) => s.strength > 0 && !(list === "keyword" && contextOnly?.has(f.id)),
  );
}
