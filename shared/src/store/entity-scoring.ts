import type { EntityHit } from "./memory-store.ts";

/**
 * Entity search, the rule both stores share (the SQL only finds rows):
 *
 * - A query name matches an entity by its canonical name or by an alias. Its weight is the
 *   entity's idf, `ln(1 + N / df)`, halved when matched through an alias only ("Priya" for
 *   "priya shah"), where N is the number of memory rows in the store (deleted ones included:
 *   a count both dialects read from one table) and df the memories linked to the entity.
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

export function entityWeights<E>(matches: EntityMatch<E>[], totalMemories: number): EntityWeights<E> {
  const total = Math.max(2, totalMemories);
  const weightOf = new Map<E, { w: number; query: string }>();
  const queryWeight = new Map<string, number>();
  for (const e of matches) {
    if (e.df === 0) continue;
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
