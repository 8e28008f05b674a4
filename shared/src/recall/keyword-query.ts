/**
 * Query terms for keyword search. Terms are OR-ed by the stores (TribalMemory quoted the whole
 * query as one phrase, so any reworded question found nothing); stopwords are dropped so
 * "what did we decide" does not match every memory.
 */
const STOPWORDS = new Set(
  (
    "a about above after again against all am an and any are as at be because been before being below " +
    "between both but by can could did do does doing down during each few for from further had has have " +
    "having he her here hers herself him himself his how i if in into is it its itself just me more most " +
    "my myself no nor not now of off on once only or other our ours ourselves out over own same she should " +
    "so some such than that the their theirs them themselves then there these they this those through to " +
    "too under until up very was we were what when where which while who whom why will with would you your " +
    "yours yourself yourselves also get got us let lets s t don didn doesn isn wasn aren weren won wouldn " +
    "shouldn couldn ve ll re d m o y tell know remember recall anything something thing things"
  ).split(" "),
);

/** Lower-cased word terms of a query, stopwords and duplicates dropped, order kept. */
export function keywordTerms(query: string, maxTerms = 32): string[] {
  const words =
    query
      .toLowerCase()
      .normalize("NFKC")
      .match(/[\p{L}\p{N}_]+/gu) ?? [];
  const seen = new Set<string>();
  const terms: string[] = [];
  for (const w of words) {
    if (STOPWORDS.has(w) || seen.has(w)) continue;
    seen.add(w);
    terms.push(w);
    if (terms.length >= maxTerms) break;
  }
  // A query made only of stopwords still deserves an answer.
  if (terms.length === 0) {
    for (const w of words) if (!seen.has(w)) seen.add(w) && terms.push(w);
  }
  return terms;
}

export function isStopword(word: string): boolean {
  return STOPWORDS.has(word);
}
