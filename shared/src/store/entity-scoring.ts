import type { MemoryFilters } from "../memory/types.ts";
import type { EntityHit } from "./memory-store.ts";

/**
 * Entity search, the rule both stores share (the SQL only finds rows):
 *
 * - A query name matches an entity by its canonical name or by an alias. Its weight is the
 *   entity's idf, `ln(1 + N / df)`, halved when matched through an alias only ("Priya" for
 *   "priya shah"), where N is the number of memory rows in the store (deleted ones included:
 *   a count both dialects read from one table) and df the memories linked to the entity; under
 *   a filter (a conversation's tag, a project), both are counted within it. For recall's
 *   ranking (`dropCommon`), an entity too common in that scope (MAX_ENTITY_SHARE) does not count.
 * - Per query name the best entity counts; a memory scores the sum of the query names it
 *   matches over the sum of all query names' weights (0..1).
 * - Ties go to the newer memory (created_ms), then to the larger id — deterministic on every
 *   replica, whatever order rows came back in.
 */
export interface EntityMatch<E> {
  /** The entity's key in the store (SQLite's eid, Postgres' name). */
  entity: E;
  /** The query name that matched it. */
  query: string;
  /** Matched through an alias only. */
  alias: boolean;
  /** Memories linked to the entity. */
  df: number;
}

export interface EntityWeights<E> {
  /** Per entity, the best weight it carries and the query name it answers. */
  weightOf: Map<E, { w: number; query: string }>;
  /** Sum of the query names' best weights: the score of a memory matching every name. */
  maxTotal: number;
}

/**
 * An entity named by more than this share of the memories in the query's scope tells them
 * apart no better than a common word: a chat's speakers name half its turns ("Melanie: …"), and
 * ranking by them pushed answers down (LoCoMo recall@5 0.611 → 0.632 without them, open-domain
 * 0.216 → 0.292; the generated set, whose entities are rarer, unchanged at 0.675).
 */
export const MAX_ENTITY_SHARE = 0.05;
/** Below this many memories an entity is never too common: a small store keeps its entities. */
const MIN_COMMON_DF = 10;
/** A filtered scope is counted up to this many memories (N under a filter), so counting stays cheap. */
export const SCOPE_COUNT_CAP = 20_000;

/** True when the filters narrow recall to part of the store: N and df are then counted within them. */
export function scopeIsFiltered(f: MemoryFilters): boolean {
  return (
    f.project !== undefined ||
    (f.tags?.length ?? 0) > 0 ||
    !!f.sourceInstance ||
    !!f.sourceType ||
    (f.entityNames?.length ?? 0) > 0 ||
    f.after !== undefined ||
    f.before !== undefined ||
    f.expiredAt !== undefined
  );
}

export function entityWeights<E>(
  matches: EntityMatch<E>[],
  totalMemories: number,
  dropCommon = false,
): EntityWeights<E> {
  const total = Math.max(2, totalMemories);
  const weightOf = new Map<E, { w: number; query: string }>();
  const queryWeight = new Map<string, number>();
  for (const e of matches) {
    if (e.df === 0 || (dropCommon && e.df > MIN_COMMON_DF && e.df > MAX_ENTITY_SHARE * total)) continue;
    const w = Math.log(1 + total / e.df) * (e.alias ? 0.5 : 1);
    const prev = weightOf.get(e.entity);
    if (!prev || prev.w < w) weightOf.set(e.entity, { w, query: e.query });
    queryWeight.set(e.query, Math.max(queryWeight.get(e.query) ?? 0, w));
  }
  let maxTotal = 0;
  for (const w of queryWeight.values()) maxTotal += w;
  return { weightOf, maxTotal };
}

/** A memory linked to some of the matched entities. */
export interface EntityCandidate<E> {
  id: string;
  createdMs: number;
  entities: E[];
}

/** Candidates scored and ordered by the rule above (all of them; the caller cuts to k). */
export function rankEntityCandidates<E>(
  candidates: EntityCandidate<E>[],
  weights: EntityWeights<E>,
): (EntityHit & { createdMs: number })[] {
  if (weights.maxTotal <= 0) return [];
  return candidates
    .map((c) => {
      const perQuery = new Map<string, number>();
      for (const entity of c.entities) {
        const hit = weights.weightOf.get(entity);
        if (hit) perQuery.set(hit.query, Math.max(perQuery.get(hit.query) ?? 0, hit.w));
      }
      let sum = 0;
      for (const w of perQuery.values()) sum += w;
      return {
        id: c.id,
        createdMs: c.createdMs,
        score: sum / weights.maxTotal,
        matched: [...perQuery.keys()],
      };
    })
    .filter((c) => c.matched.length > 0)
    .sort(
      (a, b) => b.score - a.score || b.createdMs - a.createdMs || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0),
    );
}
