import { extractEntities, lookupNames } from "../entities/extract.ts";
import type { Memory, MemoryFilters } from "../memory/types.ts";
import type { EntityHit, MemoryStore } from "../store/memory-store.ts";
import {
  buildLists,
  type FusedHit,
  type RankedList,
  reciprocalRankFusion,
  type VectorCalibration,
} from "./fusion.ts";
import { isStopword, keywordTerms } from "./keyword-query.ts";
import { type RerankOptions, rerankCandidates } from "./rerank.ts";
import {
  hasOwnEvidence,
  keywordCoverage,
  neighboursOf,
  sessionBoost,
  spreadToNeighbours,
  termWeights,
  threadSeeds,
} from "./thread-context.ts";
import {
  isPeriodOnlyQuery,
  mostRecentHeld,
  parseTimeFilter,
  stripTimePhrase,
  type TimeFilter,
} from "./time-filter.ts";

export { fuseSearchHits, type VectorCalibration } from "./fusion.ts";

export interface RecallDeps {
  store: MemoryStore;
  /** Embeds the query, or returns null when no model is loaded (keyword recall still works). */
  embedQuery: ((text: string) => Promise<Float32Array | null>) | null;
  calibration: VectorCalibration;
  now?: () => Date;
}

/**
 * Which steps run. Defaults are what `pnpm bench recall-quality` measured to help; a step
 * that did not help there stays available but off (see the numbers in the bench output).
 */
export interface RecallSteps {
  /** A time phrase in the query ("last week") becomes an after/before filter. */
  timeFilter: boolean;
  keyword: boolean;
  /**
   * A keyword hit counts in proportion to how many of the query's terms it contains: keyword
   * search ORs the terms, so matching one incidental word of a reworded question is weak evidence.
   */
  keywordCoverage: boolean;
  vector: boolean;
  /** Memories naming the query's entities, as their own ranked list. */
  entity: boolean;
  /** Second hop: memories of entities the top results name ("the service Priya is on call for"). */
  hop: boolean;
  /** A time phrase in the query also matches dates the memories mention, not only created_at. */
  eventDates: boolean;
  /**
   * A memory's thread (the turns just before and after it) is context: keyword search also
   * matches through the neighbours' text, and a hit lends part of its score to its neighbours.
   */
  thread: boolean;
  /** Rerank boost for memories naming more of the query's entities. */
  entityOverlap: boolean;
  /** A memory said by someone the query names (a transcript's speaker) is preferred. */
  speaker: boolean;
  /** A memory that asks a question rather than states something ranks lower (its reply holds the answer). */
  questions: boolean;
  /** Rerank by the memory's confidence. */
  confidence: boolean;
  /** Maximal marginal relevance: near-duplicate results give way to different ones. */
  mmr: boolean;
  /** Newer memories first among equals. Off by default: old facts are not less true. */
  recency: boolean;
}

export const DEFAULT_RECALL_STEPS: RecallSteps = {
  timeFilter: true,
  keyword: true,
  keywordCoverage: true,
  vector: true,
  entity: true,
  hop: true,
  eventDates: true,
  thread: true,
  entityOverlap: false,
  speaker: true,
  questions: true,
  confidence: false,
  // On: with IDF-weighted keyword coverage it lifted every category on the harness (overall
  // recall@5 .668 → .675, paraphrase .113 → .138, multi-hop .400 → .407).
  mmr: true,
  recency: false,
};

/** List weights in fusion, relative to keyword search (1). Chosen on the eval set, kept coarse. */
export const LIST_WEIGHTS = { entity: 0.5, hop: 0.5 };

export interface RecallQuery {
  query: string;
  limit: number;
  minRelevance: number;
  filters: MemoryFilters;
  steps?: Partial<RecallSteps>;
  /** Record each step of the pipeline in `explain`. */
  explain?: boolean;
}

export interface RecallSignals {
  vector?: { rank: number; similarity: number };
  keyword?: { rank: number; bm25: number };
  /** Entity list: the query's entities this memory names; `via` for a second-hop match. */
  entity?: { rank: number; matched: string[]; via?: string[] };
  /** The query's time phrase matched this memory's creation time or a date it mentions. */
  time?: { phrase: string; matched: "created_at" | "event_date" };
}

export interface RecallHit {
  memory: Memory;
  score: number;
  signals: RecallSignals;
}

export interface ExplainStep {
  step: string;
  ms?: number;
  [detail: string]: unknown;
}

export interface RecallOutcome {
  results: RecallHit[];
  /** The time range taken from the query's words, when no explicit after/before was given. */
  timeFilter: TimeFilter | null;
  /**
   * How the time phrase was used: `filter` when its period held enough matches, `boost` when
   * they were too few and the unfiltered ranking filled the rest (matches first); null without one.
   */
  timeMode: "filter" | "boost" | null;
  /** Which lists ran: tells a caller that vector search was skipped for want of a model. */
  lists: string[];
  timings: { embedMs: number; searchMs: number; totalMs: number };
  /** The pipeline's steps, when asked for. */
  explain?: ExplainStep[];
}

/**
 * Candidates a list returns (at least; a larger limit takes more) and how many of the fused head
 * the rerank reads. Reranking the top 50, with 80 candidates from the vector and entity lists,
 * lets the speaker, question and session steps lift an answer from ranks 31-50 (it read the top
 * 30 of 40): LoCoMo recall@10 .768 -> .775, the generated set .727 -> .731, recall@5 the same
 * (.710 -> .711, .689 -> .691). The query's keyword search stays at 40: 80 gained .001 more
 * and costs 2.6 ms at 1M memories, where its extra rows are the most expensive to find. The
 * second hop's searches take the 80 (as measured): its entity filter keeps them small.
 */
export const KEYWORD_CANDIDATES = 40;
export const CANDIDATES = 80;
const RERANK_DEPTH = 50;
const HOP_SEEDS = 2;
const HOP_MAX_BRIDGES = 4;
/** Entities a second hop may go through: things with facts of their own, not identifiers or paths. */
const BRIDGE_TYPES = new Set(["service", "package", "person", "organization", "place"]);

export async function recallMemories(deps: RecallDeps, q: RecallQuery): Promise<RecallOutcome> {
  const t0 = performance.now();
  const steps: RecallSteps = { ...DEFAULT_RECALL_STEPS, ...q.steps };
  const explain: ExplainStep[] | undefined = q.explain ? [] : undefined;
  const store = deps.store;
  let timeFilter: TimeFilter | null = null;
  if (steps.timeFilter && q.filters.after === undefined && q.filters.before === undefined) {
    const parsed = parseTimeFilter(q.query, deps.now ? deps.now() : new Date());
    if (parsed) {
      timeFilter = await mostRecentHeld(parsed, async (f) => {
        const page = await store.list({ filters: timeFilters(q.filters, f, steps), limit: 1, cursor: null });
        return page.memories.length > 0;
      });
    }
  }
  const filters = timeFilter ? timeFilters(q.filters, timeFilter, steps) : { ...q.filters };
  if (timeFilter && isPeriodOnlyQuery(q.query, timeFilter, isStopword)) {
    return listPeriod(store, q, filters, timeFilter, t0, explain);
  }
  const text = stripTimePhrase(q.query, timeFilter) || q.query;
  // A fallback ranks the same text again; its vector comes from the first embedding.
  const vectors = new Map<string, Promise<Float32Array | null>>();
  const embedQuery = deps.embedQuery;
  const rankDeps: RecallDeps = embedQuery
    ? {
        ...deps,
        embedQuery: (t) => {
          const v = vectors.get(t) ?? embedQuery(t);
          vectors.set(t, v);
          return v;
        },
      }
    : deps;
  const ranked = await rankMemories(rankDeps, q, steps, text, filters, timeFilter, explain);
  if (!timeFilter || ranked.results.length >= q.limit) {
    return finish(ranked, timeFilter, "filter", t0, explain);
  }
  // The time phrase is evidence, not a wall: a period that holds too few matches is filled from
  // the ranking without it, the period's matches first (they carry the `time` signal).
  const open = await rankMemories(rankDeps, q, steps, text, { ...q.filters }, timeFilter, explain, false);
  const seen = new Set(ranked.results.map((r) => r.memory.id));
  const merged = [...ranked.results, ...open.results.filter((r) => !seen.has(r.memory.id))];
  explain?.push({ step: "time_boost", in_period: ranked.results.length, filled: merged.length - seen.size });
  return finish(
    {
      results: merged.slice(0, q.limit),
      lists: [...new Set([...ranked.lists, ...open.lists])],
      embedMs: ranked.embedMs + open.embedMs,
      searchStart: ranked.searchStart,
    },
    timeFilter,
    "boost",
    t0,
    explain,
  );
}

/** The query's filters with the time phrase's period on created_at (or, with eventDates, a date mentioned). */
function timeFilters(base: MemoryFilters, f: TimeFilter, steps: RecallSteps): MemoryFilters {
  return { ...base, after: f.after, before: f.before, matchEventDates: steps.eventDates };
}

interface Ranked {
  results: RecallHit[];
  lists: string[];
  embedMs: number;
  searchStart: number;
}

function finish(
  r: Ranked,
  timeFilter: TimeFilter | null,
  mode: "filter" | "boost",
  t0: number,
  explain: ExplainStep[] | undefined,
): RecallOutcome {
  const end = performance.now();
  return {
    results: r.results,
    timeFilter,
    timeMode: timeFilter ? mode : null,
    lists: r.lists,
    timings: { embedMs: r.embedMs, searchMs: end - r.searchStart - r.embedMs, totalMs: end - t0 },
    ...(explain ? { explain } : {}),
  };
}

/**
 * Search, fuse, hop and rerank within `filters`. `timeFilter` only labels the results' `time`
 * signal: every result when `filters` hold its period, else those created within it.
 */
async function rankMemories(
  deps: RecallDeps,
  q: RecallQuery,
  steps: RecallSteps,
  text: string,
  filters: MemoryFilters,
  timeFilter: TimeFilter | null,
  explain: ExplainStep[] | undefined,
  allInPeriod = true,
): Promise<Ranked> {
  const store = deps.store;
  const pool = Math.max(q.limit * 4, CANDIDATES);
  const keywordPool = Math.max(q.limit * 4, KEYWORD_CANDIDATES);
  const terms = steps.keyword ? keywordTerms(text) : [];
  const queryEntities =
    steps.entity || steps.hop || steps.entityOverlap || steps.speaker ? extractEntities(text) : [];
  const entityNames = lookupNames(queryEntities);
  explain?.push({
    step: "parse",
    time_filter: timeFilter
      ? { phrase: timeFilter.phrase, after: iso(timeFilter.after), before: iso(timeFilter.before) }
      : null,
    time_matches: timeFilter ? (steps.eventDates ? "created_at or event date" : "created_at") : null,
    keyword_terms: terms,
    entities: queryEntities.map((e) => ({ name: e.name, type: e.type, aliases: e.aliases })),
  });

  const searchStart = performance.now();
  const useEntities = steps.entity && entityNames.length > 0 && store.entitySearch !== undefined;
  const wantCoverage = steps.keyword && steps.keywordCoverage && terms.length > 1;
  // Keyword search starts before the query is embedded: a store may run it on another thread
  // (the SQLite store does), so it overlaps the embedding (its own worker) and the vector scan.
  const textSearches = Promise.all([
    steps.keyword && terms.length
      ? store.keywordSearch(terms, keywordPool, filters, { thread: steps.thread })
      : Promise.resolve(steps.keyword ? [] : null),
    wantCoverage ? termWeights(store, terms) : Promise.resolve(null),
  ]);
  textSearches.catch(() => undefined); // awaited below; avoid an unhandled rejection meanwhile
  // The keyword hits' threads, and the terms their text covers, are read as soon as the hits are
  // in: while the query is still embedded (a model's ~13 ms in a cold HTTP recall) or scanned.
  // Coverage reads the keyword hits and their neighbours, the rerank the head: mostly the same.
  const read = memoriesOnce(store);
  const keywordSide = textSearches.then(async ([keywordHits, idf]) => {
    const around = steps.thread ? await neighboursOf(store, threadSeeds(keywordHits), filters) : undefined;
    const covered =
      (wantCoverage || steps.thread) && keywordHits?.length
        ? await keywordCoverage(read, keywordHits, terms, around)
        : undefined;
    return { keywordHits, idf, around, covered };
  });
  keywordSide.catch(() => undefined);

  const embedStart = performance.now();
  const vector = steps.vector && deps.embedQuery ? await deps.embedQuery(text) : null;
  const embedMs = performance.now() - embedStart;

  const [vectorHits, entityHits] = await Promise.all([
    vector ? store.vectorSearch(vector, pool, filters) : Promise.resolve(null),
    useEntities
      ? store.entitySearch?.(entityNames, pool, filters, { dropCommon: true })
      : Promise.resolve(null),
  ]);
  // The other lists' threads (their heads'), looked up while a keyword ranking may still run.
  const aroundOthers = steps.thread
    ? await neighboursOf(store, threadSeeds(null, vectorHits, entityHits), filters)
    : undefined;
  const { keywordHits, idf, around, covered: coveredEarly } = await keywordSide;
  const neighbours = aroundOthers && around ? new Map([...aroundOthers, ...around]) : undefined;
  // Coverage counts, with a single term, only where some hit has a thread (its text then matched
  // through a neighbour's): as when the threads were looked up before it.
  const covered = wantCoverage || (neighbours?.size ?? 0) > 0 ? coveredEarly : undefined;
  const coverage =
    covered && wantCoverage ? { terms: terms.length, matched: covered.matched, idf } : undefined;
  const lists = buildLists(keywordHits, vectorHits, deps.calibration, coverage, covered?.contextOnly);
  if (entityHits?.length) {
    // Many memories name the same entity equally; among equals, the text lists' order decides
    // (ranking ties by recency was measured as noise that pushed answers down).
    const textRank = new Map(reciprocalRankFusion(lists).map((f, i) => [f.id, i]));
    const rankOf = (id: string) => textRank.get(id) ?? Number.MAX_SAFE_INTEGER;
    entityHits.sort((a, b) => b.score - a.score || rankOf(a.id) - rankOf(b.id));
    lists.push(entityList(entityHits));
  }
  let fused = reciprocalRankFusion(lists);
  explain?.push({
    step: "search",
    // Searches overlapped the query embedding; this is the time they added beyond it.
    ms: ms(performance.now() - searchStart - embedMs),
    lists: lists.map((l) => ({ name: l.name, weight: l.weight, hits: l.hits.length })),
  });

  // Second hop: the top results name entities the query did not (Priya's on-call memory names
  // ledger-api); memories of those entities are searched with the same query.
  let hopVia = new Map<string, string[]>();
  if (steps.hop && store.entitySearch !== undefined && fused.length > 0) {
    const hopStart = performance.now();
    const hop = await secondHop(deps, store, fused, entityNames, text, terms, vector, pool, filters);
    if (hop) {
      lists.push(hop.list);
      hopVia = hop.via;
      fused = reciprocalRankFusion(lists);
    }
    explain?.push({
      step: "hop",
      ms: ms(performance.now() - hopStart),
      seeds: hop?.seeds ?? [],
      bridges: hop?.bridges ?? [],
      hits: hop?.list.hits.length ?? 0,
    });
  }

  if (neighbours?.size) {
    fused = spreadToNeighbours(fused, neighbours).filter((f) => hasOwnEvidence(f, covered?.contextOnly));
    explain?.push({ step: "thread", hits_with_neighbours: neighbours.size });
  }

  // Rerank the head of the fused list: it needs content, which the lists do not carry.
  const rerankDepth = Math.max(q.limit * 3, RERANK_DEPTH);
  const head = fused.filter((f) => f.score > 0).slice(0, rerankDepth);
  const memories = await read(head.map((f) => f.id));
  const byId = new Map(memories.map((m) => [m.id, m]));
  const rerankOptions: RerankOptions = {
    entityOverlap: steps.entityOverlap ? new Set(queryEntities.map((e) => e.name)) : null,
    speakers: steps.speaker ? new Set(queryEntities.flatMap((e) => [e.name, ...e.aliases])) : null,
    questions: steps.questions,
    confidence: steps.confidence,
    mmr: steps.mmr,
    recency: steps.recency,
    now: (deps.now ? deps.now() : new Date()).getTime(),
    picks: q.limit,
  };
  const rerankStart = performance.now();
  const reranked = rerankCandidates(steps.thread ? sessionBoost(head, byId) : head, byId, rerankOptions);
  const applied = explain
    ? (["entityOverlap", "speaker", "questions", "confidence", "mmr", "recency"] as const).filter(
        (s) => steps[s],
      )
    : [];
  if (explain && applied.length) {
    explain.push({
      step: "rerank",
      ms: ms(performance.now() - rerankStart),
      applied,
      candidates: head.length,
      moved: reranked.filter((r, i) => head[i]?.id !== r.id).length,
    });
  }

  const kept = reranked.filter((f) => f.score >= q.minRelevance && f.score > 0);
  const results: RecallHit[] = [];
  for (const f of kept.slice(0, q.limit)) {
    const memory = byId.get(f.id);
    if (!memory) continue;
    results.push({
      memory,
      score: round(Math.min(1, f.score)),
      signals: signalsOf(f, memory, timeFilter, hopVia, allInPeriod),
    });
  }
  explain?.push({
    step: "select",
    min_relevance: q.minRelevance,
    dropped_below_min_relevance: reranked.length - kept.length,
    returned: results.length,
  });
  return { results, lists: lists.map((l) => l.name), embedMs, searchStart };
}

/** `store.getMany`, each memory read once for the recall that calls it. */
function memoriesOnce(store: MemoryStore): (ids: string[]) => Promise<Memory[]> {
  const known = new Map<string, Memory>();
  return async (ids) => {
    const missing = ids.filter((id) => !known.has(id));
    if (missing.length) for (const m of await store.getMany(missing)) known.set(m.id, m);
    return ids.flatMap((id) => known.get(id) ?? []);
  };
}

/**
 * A query that names only a period ("what happened yesterday"): its memories, newest first.
 * There is nothing to rank them by but time, so each one matches fully (score 1).
 */
async function listPeriod(
  store: MemoryStore,
  q: RecallQuery,
  filters: MemoryFilters,
  timeFilter: TimeFilter,
  t0: number,
  explain: ExplainStep[] | undefined,
): Promise<RecallOutcome> {
  const searchStart = performance.now();
  const page = await store.list({ filters, limit: q.limit, cursor: null });
  const results: RecallHit[] = page.memories.map((memory) => {
    const created = Date.parse(memory.created_at);
    const inCreated = created >= timeFilter.after && created < timeFilter.before;
    return {
      memory,
      score: 1,
      signals: { time: { phrase: timeFilter.phrase, matched: inCreated ? "created_at" : "event_date" } },
    };
  });
  const end = performance.now();
  explain?.push({
    step: "parse",
    time_filter: { phrase: timeFilter.phrase, after: iso(timeFilter.after), before: iso(timeFilter.before) },
    period_only: true,
  });
  explain?.push({ step: "list_period", ms: ms(end - searchStart), returned: results.length });
  return {
    results: results.filter((r) => r.score >= q.minRelevance),
    timeFilter,
    timeMode: "filter",
    lists: ["time"],
    timings: { embedMs: 0, searchMs: end - searchStart, totalMs: end - t0 },
    ...(explain ? { explain } : {}),
  };
}

function entityList(hits: EntityHit[]): RankedList {
  return {
    name: "entity",
    weight: LIST_WEIGHTS.entity,
    hits: hits.map((h) => ({ id: h.id, strength: h.score, raw: h.score, matched: h.matched })),
  };
}

async function secondHop(
  deps: RecallDeps,
  store: MemoryStore,
  fused: FusedHit[],
  queryNames: string[],
  text: string,
  terms: string[],
  vector: Float32Array | null,
  pool: number,
  filters: MemoryFilters,
): Promise<{ list: RankedList; via: Map<string, string[]>; seeds: string[]; bridges: string[] } | null> {
  // A seed must name one of the query's entities: "the service Priya is on call for" is
  // answered through a memory about Priya, not through whatever ranked first.
  const seeds = fused.slice(0, HOP_SEEDS).filter((f) => (f.signals.entity?.matched?.length ?? 0) > 0);
  if (!seeds.length) return null;
  const seedMemories = await store.getMany(seeds.map((s) => s.id));
  const known = new Set(queryNames);
  const bridges: string[] = [];
  for (const m of seedMemories) {
    for (const e of extractEntities(m.content)) {
      if (known.has(e.name) || e.aliases.some((a) => known.has(a))) continue;
      if (!BRIDGE_TYPES.has(e.type)) continue;
      if (!bridges.includes(e.name)) bridges.push(e.name);
      if (bridges.length >= HOP_MAX_BRIDGES) break;
    }
  }
  if (!bridges.length) return null;
  const hopFilters: MemoryFilters = { ...filters, entityNames: bridges };
  const [kw, vec] = await Promise.all([
    terms.length ? store.keywordSearch(terms, pool, hopFilters) : Promise.resolve([]),
    vector ? store.vectorSearch(vector, pool, hopFilters) : Promise.resolve(null),
  ]);
  const seedIds = new Set(seeds.map((s) => s.id));
  const hopFused = reciprocalRankFusion(buildLists(kw, vec, deps.calibration)).filter(
    (h) => !seedIds.has(h.id),
  );
  if (!hopFused.length) return null;
  // A hop is only as good as the seed it came from.
  const seedStrength = Math.min(1, seeds[0].score * 1.5);
  const best = hopFused[0].score || 1;
  const via = new Map<string, string[]>();
  const hits = hopFused.map((h) => {
    via.set(h.id, bridges);
    return { id: h.id, strength: (h.score / best) * seedStrength, raw: h.score };
  });
  void text;
  return {
    list: { name: "hop", weight: LIST_WEIGHTS.hop, hits },
    via,
    seeds: seeds.map((s) => s.id),
    bridges,
  };
}

function signalsOf(
  f: FusedHit,
  memory: Memory,
  timeFilter: TimeFilter | null,
  hopVia: Map<string, string[]>,
  allInPeriod: boolean,
): RecallSignals {
  const signals: RecallSignals = {};
  if (f.signals.vector)
    signals.vector = { rank: f.signals.vector.rank, similarity: round(f.signals.vector.score) };
  if (f.signals.keyword)
    signals.keyword = { rank: f.signals.keyword.rank, bm25: round(f.signals.keyword.score) };
  const entity = f.signals.entity;
  const hop = f.signals.hop;
  if (entity || hop) {
    signals.entity = {
      rank: entity?.rank ?? hop?.rank ?? 0,
      matched: entity?.matched ?? [],
      ...(hop && !entity ? { via: hopVia.get(f.id) ?? [] } : {}),
    };
  }
  if (timeFilter) {
    const created = Date.parse(memory.created_at);
    const inCreated = created >= timeFilter.after && created < timeFilter.before;
    if (inCreated || allInPeriod)
      signals.time = { phrase: timeFilter.phrase, matched: inCreated ? "created_at" : "event_date" };
  }
  return signals;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function ms(x: number): number {
  return Math.round(x * 100) / 100;
}

function round(x: number): number {
  return Math.round(x * 10000) / 10000;
}
