/**
 * Entities named in a text, found without any model: services and packages (kebab-case,
 * `@scope/name`), code identifiers, file paths, URLs, and capitalised names (people,
 * organisations, places, products). Names are case-folded; aliases let a later mention
 * ("Priya", "http-client") find the full one ("Priya Shah", "@acme/http-client").
 *
 * `compromise` was measured for people/places/organisations on the eval set: 1.3 s to load,
 * ~10 ms per memory and per query (the recall budget is 15 ms), and it missed names in
 * questions ("Priya Shah" in "…the service Priya Shah is on call for?"). The patterns below
 * take ~20 µs per memory.
 */

export type EntityType =
  | "person"
  | "organization"
  | "place"
  | "name"
  | "service"
  | "package"
  | "identifier"
  | "path"
  | "url";

export interface ExtractedEntity {
  /** Case-folded canonical name: the key entities are stored and looked up by. */
  name: string;
  type: EntityType;
  /** Other case-folded names that refer to it (a person's first name, a package without scope). */
  aliases: string[];
}

const URL_RE = /\bhttps?:\/\/[^\s<>"'`)\]]+/gi;
const SCOPED_PACKAGE_RE = /(?<![\w/])@[a-z0-9][\w.-]*\/[a-z0-9][\w.-]*[a-z0-9]/gi;
/** A path with a folder and an extension (`src/db/pool.ts`), or at least two folders. */
const PATH_RE =
  /(?<![\w@/.:-])(?:~|\.{1,2})?\/?(?:[\w.-]+\/)+[\w.-]*\.[a-z0-9]{1,8}\b|(?<![\w@/.:-])(?:~|\.{1,2})?\/?(?:[\w.-]+\/){2,}[\w.-]*/gi;
const KEBAB_RE = /(?<![\w@/.-])[a-z][a-z0-9]*(?:-[a-z0-9]+)+(?![\w/-])/g;
const ENV_VAR_RE = /\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b/g;
const SNAKE_RE = /\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b/g;
const CAMEL_RE = /\b[a-z][a-z0-9]*(?:[A-Z][a-z0-9]+)+\b/g;
/** MySQL, CockroachDB, PostgreSQL, GitHub, OAuthClient. */
const MIXED_CASE_RE = /\b[A-Z][a-z0-9]*[a-z][A-Z][A-Za-z0-9]*\b|\b[A-Z]{2,}[a-z]+[A-Za-z0-9]*\b/g;
const CALL_RE = /\b[A-Za-z_][\w.]*(?=\(\))/g;

/** Hyphenated English words that are not names of anything. */
const COMMON_HYPHENATED = new Set(
  (
    "on-call end-to-end follow-up follow-ups real-time long-term short-term read-only up-to-date built-in opt-in " +
    "opt-out well-known so-called self-hosted e-mail co-worker day-to-day one-off re-run set-up check-in " +
    "sign-in sign-up log-in in-house third-party first-class high-level low-level open-source in-memory " +
    "back-end front-end full-time part-time non-blocking multi-tenant cross-team per-request t-shirt"
  ).split(" "),
);

/** Capitalised words that start sentences or label turns, never names on their own. */
const NOT_A_NAME = new Set(
  (
    "i a an the this that these those it its we our you your he she they them his her their my me " +
    "what which who whom whose when where why how is are was were do does did can could should would will " +
    "please note decision update actually also and but or so if then yes no ok okay thanks hi hello " +
    "user assistant session summary notes note fyi todo tip reminder heads fact preference correction " +
    "monday tuesday wednesday thursday friday saturday sunday today yesterday tomorrow " +
    "january february march april may june july august september october november december " +
    "after before during since until on in at for from to of with by about into over under per via " +
    "let lets let's sure great good maybe there here all any some every each none both one two three " +
    "earlier later last next first new old"
  ).split(" "),
);

const ORG_SUFFIXES = new Set(
  "inc corp corporation ltd llc gmbh labs lab team group university college bank foundation institute company co".split(
    " ",
  ),
);
const PLACE_CUES =
  /\b(?:from|near|visit(?:ed|ing)?|based in|lives? in|living in|moved to|office in|trip to|flew to|travell?(?:ed|ing)? to)\s+$/i;

/** The entities of a text, each once, in order of first mention. */
export function extractEntities(text: string): ExtractedEntity[] {
  const found = new Map<string, ExtractedEntity>();
  const add = (name: string, type: EntityType, aliases: string[] = []) => {
    const key = foldName(name);
    if (key.length < 2 || key.length > 200) return;
    const prev = found.get(key);
    if (prev) {
      for (const a of aliases) if (!prev.aliases.includes(a) && a !== key) prev.aliases.push(a);
      return;
    }
    found.set(key, { name: key, type, aliases: aliases.filter((a) => a !== key && a.length >= 2) });
  };
  // Spans already claimed by a more specific pattern are blanked so a URL's path is not
  // also a file path and a package's name is not also a service.
  let rest = text;
  const claim = (re: RegExp, onMatch: (m: string) => void) => {
    rest = rest.replace(re, (m) => {
      onMatch(m);
      return " ".repeat(m.length);
    });
  };
  claim(URL_RE, (m) => {
    const url = m.replace(/[.,;:!?]+$/, "");
    let host = "";
    try {
      host = new URL(url).host.toLowerCase();
    } catch {
      // not a URL after all: keep the text as the name
    }
    add(url, "url", host ? [host] : []);
  });
  claim(SCOPED_PACKAGE_RE, (m) => {
    const bare = m.slice(m.indexOf("/") + 1).toLowerCase();
    add(m, "package", [bare]);
  });
  claim(PATH_RE, (m) => {
    const path = m.replace(/[.,;:!?]+$/, "");
    if (!path.includes("/") || /^\/?[\d/]+$/.test(path)) return;
    const base = path.split("/").filter(Boolean).pop() ?? "";
    add(path, "path", base.includes(".") ? [base.toLowerCase()] : []);
  });
  for (const m of rest.matchAll(KEBAB_RE)) {
    if (!COMMON_HYPHENATED.has(m[0]) && !/^\d|-\d+$/.test(m[0])) add(m[0], "service");
  }
  for (const re of [ENV_VAR_RE, SNAKE_RE, CAMEL_RE, CALL_RE]) {
    for (const m of rest.matchAll(re)) add(m[0], "identifier");
  }
  for (const m of rest.matchAll(MIXED_CASE_RE)) add(m[0], "name");
  for (const n of capitalisedNames(rest)) add(n.text, n.type, n.aliases);
  return [...found.values()];
}

/** Case-folded, whitespace-collapsed name: how entities are compared and stored. */
export function foldName(name: string): string {
  return name.normalize("NFKC").toLowerCase().replace(/\s+/g, " ").trim();
}

/** Every name an extracted entity may be looked up by: its own and its aliases. */
export function lookupNames(entities: readonly ExtractedEntity[]): string[] {
  const out = new Set<string>();
  for (const e of entities) {
    out.add(e.name);
    for (const a of e.aliases) out.add(a);
  }
  return [...out];
}

const WORD_RE = /[\p{Lu}][\p{L}'’-]*|[\p{Ll}\p{N}][\p{L}\p{N}'’_-]*|[.!?:;\n—–]|[^\s\p{L}\p{N}]/gu;

/**
 * Runs of capitalised words. A single capitalised word is a name only mid-sentence (the
 * first word of a sentence is capitalised anyway); two or more title-case words form a
 * person's name unless an organisation suffix or a place cue says otherwise.
 */
function capitalisedNames(text: string): { text: string; type: EntityType; aliases: string[] }[] {
  const out: { text: string; type: EntityType; aliases: string[] }[] = [];
  const tokens = [...text.matchAll(WORD_RE)].map((m) => ({ word: m[0], index: m.index ?? 0 }));
  let sentenceStart = true;
  let i = 0;
  while (i < tokens.length) {
    const t = tokens[i].word;
    if (/^[.!?:;\n—–]$/.test(t)) {
      sentenceStart = true;
      i++;
      continue;
    }
    if (!isTitleWord(t)) {
      sentenceStart = /^[^\p{L}\p{N}]$/u.test(t) ? sentenceStart : false;
      i++;
      continue;
    }
    const run: string[] = [];
    const startIndex = tokens[i].index;
    const atStart = sentenceStart;
    let j = i;
    while (j < tokens.length && isTitleWord(tokens[j].word) && run.length < 4) {
      run.push(tokens[j].word.replace(/['’]s$/, ""));
      j++;
    }
    while (run.length && isNotAName(run[0])) run.shift();
    while (run.length && isNotAName(run[run.length - 1])) run.pop();
    const counts = run.length >= 2 || (run.length === 1 && !(atStart && j - i === 1));
    if (counts && run.length > 0 && run.every((w) => w.length >= 2 || run.length > 1)) {
      const name = run.join(" ");
      const last = run[run.length - 1].toLowerCase();
      const before = text.slice(Math.max(0, startIndex - 20), startIndex);
      let type: EntityType = run.length >= 2 ? "person" : "name";
      if (ORG_SUFFIXES.has(last)) type = "organization";
      else if (PLACE_CUES.test(before)) type = "place";
      const aliases = type === "person" ? [run[0].toLowerCase()] : [];
      out.push({ text: name, type, aliases });
    }
    sentenceStart = false;
    i = j;
  }
  return out;
}

function isNotAName(word: string): boolean {
  const w = word.toLowerCase();
  return NOT_A_NAME.has(w) || (w.endsWith("s") && NOT_A_NAME.has(w.slice(0, -1)));
}

function isTitleWord(w: string): boolean {
  return /^[\p{Lu}][\p{Ll}'’-]+$/u.test(w) || /^[\p{Lu}]{2,5}$/u.test(w);
}
