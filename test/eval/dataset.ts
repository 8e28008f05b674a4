/**
 * The labelled recall evaluation set: types, loaders and ranking metrics.
 * `generate-dataset.ts` writes the data; benchmarks and recall-quality tests read it here.
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const QUERY_CATEGORIES = [
  "single-fact",
  "multi-hop",
  "temporal",
  "corrected",
  "paraphrase",
  "no-answer",
] as const;
export type QueryCategory = (typeof QUERY_CATEGORIES)[number];

export interface EvalMemory {
  /** UUIDv7 derived from created_at and a stable key, so ids survive regeneration. */
  id: string;
  content: string;
  tags: string[];
  source_type: string;
  source_instance: string;
  created_at: string;
  /** The earlier memory this one corrects; that one is hidden from recall. */
  supersedes?: string;
}

export interface EvalQuery {
  id: string;
  query: string;
  category: QueryCategory;
  /** Every memory that answers the query; all of them for multi-hop; empty for no-answer. */
  relevant_ids: string[];
  /** The "now" the query is asked at; resolves "last week", "yesterday". */
  reference_date: string;
  /** Temporal queries: the window the time expression means, [after, before). */
  window?: { after: string; before: string; expression: string };
}

export interface EvalDataset {
  memories: EvalMemory[];
  queries: EvalQuery[];
}

export const DEFAULT_DATA_DIR = join(dirname(fileURLToPath(import.meta.url)), "data");

export function parseJsonl<T>(text: string, what: string): T[] {
  const out: T[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (!line) continue;
    try {
      out.push(JSON.parse(line) as T);
    } catch (err) {
      throw new Error(`${what}: line ${i + 1} is not JSON (${(err as Error).message})`);
    }
  }
  return out;
}

export function loadMemories(path: string = join(DEFAULT_DATA_DIR, "memories.jsonl")): EvalMemory[] {
  return parseJsonl<EvalMemory>(readFileSync(path, "utf8"), path);
}

export function loadQueries(path: string = join(DEFAULT_DATA_DIR, "queries.jsonl")): EvalQuery[] {
  return parseJsonl<EvalQuery>(readFileSync(path, "utf8"), path);
}

export function loadDataset(dir: string = DEFAULT_DATA_DIR): EvalDataset {
  return {
    memories: loadMemories(join(dir, "memories.jsonl")),
    queries: loadQueries(join(dir, "queries.jsonl")),
  };
}

/** Ids of memories that a later memory corrects; recall hides them by default. */
export function supersededIds(memories: readonly EvalMemory[]): Set<string> {
  const out = new Set<string>();
  for (const m of memories) if (m.supersedes) out.add(m.supersedes);
  return out;
}

// ---- metrics over ranked id lists (best first). Relevance is binary. ----

/** Fraction of the relevant ids found in the top k. Undefined (NaN) when nothing is relevant. */
export function recallAtK(ranked: readonly string[], relevant: readonly string[], k: number): number {
  if (relevant.length === 0) return Number.NaN;
  const top = new Set(ranked.slice(0, k));
  let found = 0;
  for (const id of new Set(relevant)) if (top.has(id)) found++;
  return found / new Set(relevant).size;
}

/** 1 / rank of the first relevant id (0 when none is ranked). NaN when nothing is relevant. */
export function reciprocalRank(ranked: readonly string[], relevant: readonly string[]): number {
  if (relevant.length === 0) return Number.NaN;
  const rel = new Set(relevant);
  for (let i = 0; i < ranked.length; i++) if (rel.has(ranked[i])) return 1 / (i + 1);
  return 0;
}

/** Binary-gain nDCG@k: DCG of the ranking over the DCG of the ideal one. */
export function ndcgAtK(ranked: readonly string[], relevant: readonly string[], k = 10): number {
  if (relevant.length === 0) return Number.NaN;
  const rel = new Set(relevant);
  let dcg = 0;
  const seen = new Set<string>();
  for (let i = 0; i < Math.min(k, ranked.length); i++) {
    if (rel.has(ranked[i]) && !seen.has(ranked[i])) {
      seen.add(ranked[i]);
      dcg += 1 / Math.log2(i + 2);
    }
  }
  let ideal = 0;
  for (let i = 0; i < Math.min(k, rel.size); i++) ideal += 1 / Math.log2(i + 2);
  return dcg / ideal;
}

export interface MetricSummary {
  queries: number;
  "recall@1": number;
  "recall@5": number;
  "recall@10": number;
  mrr: number;
  "ndcg@10": number;
}

export type CategoryReport = Partial<Record<QueryCategory | "overall", MetricSummary>>;

function mean(xs: number[]): number {
  return xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length;
}

/**
 * Averages the metrics per category and over all answerable queries. `no-answer` queries have
 * nothing to rank, so they count in `queries` but not in the means (judge them by score
 * thresholds instead). A query missing from `rankings` counts as an empty ranking.
 */
export function evaluateRankings(
  queries: readonly EvalQuery[],
  rankings: ReadonlyMap<string, readonly string[]>,
): CategoryReport {
  const groups = new Map<QueryCategory | "overall", EvalQuery[]>();
  for (const q of queries) {
    for (const key of [q.category, "overall"] as const) {
      if (key === "overall" && q.relevant_ids.length === 0) continue;
      const list = groups.get(key) ?? [];
      list.push(q);
      groups.set(key, list);
    }
  }
  const report: CategoryReport = {};
  for (const key of [...QUERY_CATEGORIES, "overall"] as const) {
    const qs = groups.get(key);
    if (!qs) continue;
    const answerable = qs.filter((q) => q.relevant_ids.length > 0);
    const of = (f: (r: readonly string[], q: EvalQuery) => number): number =>
      mean(answerable.map((q) => f(rankings.get(q.id) ?? [], q)));
    report[key] = {
      queries: qs.length,
      "recall@1": of((r, q) => recallAtK(r, q.relevant_ids, 1)),
      "recall@5": of((r, q) => recallAtK(r, q.relevant_ids, 5)),
      "recall@10": of((r, q) => recallAtK(r, q.relevant_ids, 10)),
      mrr: of((r, q) => reciprocalRank(r, q.relevant_ids)),
      "ndcg@10": of((r, q) => ndcgAtK(r, q.relevant_ids, 10)),
    };
  }
  return report;
}

// ---- content words: what "shares no content words" means for paraphrase queries ----

const STOPWORDS = new Set(
  (
    "a an the and or but if then else of to in on at by for with from into onto over under about as is are was " +
    "were be been being am do does did doing done have has had having i me my we us our ours you your he him his " +
    "she her it its they them their this that these those there here what which who whom whose when where why how " +
    "all any both each few more most other some such no nor not only own same so than too very can could should " +
    "would will shall may might must just also again ever still s t d ll m re ve y up down out off per via vs etc " +
    "get got gets now one whoever whatever anyone someone something"
  ).split(" "),
);

/** Light suffix stripping, enough that "switched"/"switch" and "databases"/"database" meet. */
export function stem(word: string): string {
  let w = word;
  if (w.length > 4 && w.endsWith("ies")) return `${w.slice(0, -3)}y`;
  for (const suffix of ["ing", "ed", "es", "er", "s", "ly"]) {
    if (w.length > suffix.length + 2 && w.endsWith(suffix)) {
      w = w.slice(0, -suffix.length);
      break;
    }
  }
  if (w.length > 3 && w[w.length - 1] === w[w.length - 2] && !/[aeiousl]/.test(w[w.length - 1]))
    w = w.slice(0, -1);
  return w;
}

/** Lowercased, identifier-split, stopword-free, stemmed words of a text, in order. */
export function contentTokens(text: string): string[] {
  const out: string[] = [];
  const spaced = text.replace(/(\p{Ll})(\p{Lu})/gu, "$1 $2");
  for (const raw of spaced.toLowerCase().split(/[^\p{L}\p{N}]+/u)) {
    if (!raw || STOPWORDS.has(raw)) continue;
    out.push(stem(raw));
  }
  return out;
}

export function contentWords(text: string): Set<string> {
  return new Set(contentTokens(text));
}

/**
 * Content words of `query` that also occur in `text`: the same stem, or one word a short
 * inflection of the other ("invoices"/"invoice", "deploy"/"deployment"). Empty for a true
 * paraphrase.
 */
export function sharedContentWords(query: string, text: string): string[] {
  const theirs = [...contentWords(text)];
  const shared: string[] = [];
  for (const a of contentWords(query)) {
    for (const b of theirs) {
      if (a === b) {
        shared.push(a);
        break;
      }
      let p = 0;
      while (p < a.length && p < b.length && a[p] === b[p]) p++;
      if (p >= 5 && a.length - p <= 4 && b.length - p <= 4) {
        shared.push(a);
        break;
      }
    }
  }
  return shared;
}
