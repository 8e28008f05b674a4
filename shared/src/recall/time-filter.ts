import * as chrono from "chrono-node";

export interface TimeFilter {
  after: number;
  before: number;
  /** The words of the query that asked for it, e.g. "last week". */
  phrase: string;
  /**
   * A named period that recurs and whose year or week the query left open ("in June", "on
   * Friday"): an earlier one of the same name may be the one meant (`mostRecentHeld`).
   */
  repeats?: "year" | "week";
}

const DAY = 86_400_000;

function startOfDay(d: Date): Date {
  return new Date(d.getFullYear(), d.getMonth(), d.getDate());
}

function startOfWeek(d: Date): Date {
  const s = startOfDay(d);
  const mondayOffset = (s.getDay() + 6) % 7;
  return new Date(s.getTime() - mondayOffset * DAY);
}

/** The Monday-to-Monday week holding a day (local calendar). */
function weekOf(day: Date): [Date, Date] {
  const monday = startOfWeek(day);
  return [monday, new Date(monday.getFullYear(), monday.getMonth(), monday.getDate() + 7)];
}

/** Relative periods chrono reads as a single instant; we want the whole period. */
const PERIODS: { re: RegExp; range: (now: Date) => [Date, Date] }[] = [
  { re: /\btoday\b/i, range: (n) => [startOfDay(n), new Date(startOfDay(n).getTime() + DAY)] },
  { re: /\byesterday\b/i, range: (n) => [new Date(startOfDay(n).getTime() - DAY), startOfDay(n)] },
  { re: /\bthis week\b/i, range: (n) => weekOf(n) },
  { re: /\blast week\b/i, range: (n) => weekOf(new Date(n.getFullYear(), n.getMonth(), n.getDate() - 7)) },
  {
    re: /\bthis month\b/i,
    range: (n) => [
      new Date(n.getFullYear(), n.getMonth(), 1),
      new Date(n.getFullYear(), n.getMonth() + 1, 1),
    ],
  },
  {
    re: /\blast month\b/i,
    range: (n) => [
      new Date(n.getFullYear(), n.getMonth() - 1, 1),
      new Date(n.getFullYear(), n.getMonth(), 1),
    ],
  },
  {
    re: /\bthis year\b/i,
    range: (n) => [new Date(n.getFullYear(), 0, 1), new Date(n.getFullYear() + 1, 0, 1)],
  },
  {
    re: /\blast year\b/i,
    range: (n) => [new Date(n.getFullYear() - 1, 0, 1), new Date(n.getFullYear(), 0, 1)],
  },
];

const COUNTS: Record<string, number> = {
  a: 1,
  an: 1,
  one: 1,
  two: 2,
  three: 3,
  four: 4,
  five: 5,
  six: 6,
  seven: 7,
  eight: 8,
  nine: 9,
  ten: 10,
};

/**
 * "Two weeks ago", "3 days ago", "a month ago": the day, Monday-to-Monday week, month or year
 * that held that instant. chrono reads the phrase as the instant itself, and its day became the
 * filter: "what did we decide two weeks ago" then hid a decision made two days before that day,
 * in the week meant (5 of the labelled set's 72 period questions were missed so).
 */
function periodAgo(query: string, now: Date): TimeFilter | null {
  const m =
    /\b(an?|one|two|three|four|five|six|seven|eight|nine|ten|\d{1,3}) (day|week|month|year)s? ago\b/i.exec(
      query,
    );
  if (!m) return null;
  const n = COUNTS[m[1].toLowerCase()] ?? Number(m[1]);
  const [y, mo, d] = [now.getFullYear(), now.getMonth(), now.getDate()];
  const unit = m[2].toLowerCase();
  const [after, before] =
    unit === "day"
      ? [new Date(y, mo, d - n), new Date(y, mo, d - n + 1)]
      : unit === "week"
        ? weekOf(new Date(y, mo, d - 7 * n))
        : unit === "month"
          ? [new Date(y, mo - n, 1), new Date(y, mo - n + 1, 1)]
          : [new Date(y - n, 0, 1), new Date(y - n + 1, 0, 1)];
  return { after: after.getTime(), before: before.getTime(), phrase: m[0] };
}

const MAY_MENTION_TIME =
  /\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|mon|tue|wed|thu|fri|sat|sun|ago|since|until|noon|midnight|\d{1,4}[-/.]\d{1,2})|\d{4}\b/i;

/**
 * The time range a query's own words ask for ("yesterday", "last week", "in March",
 * "on 2026-03-02"), or null. Ranges are half-open [after, before) in epoch ms.
 */
export function parseTimeFilter(query: string, now: Date = new Date()): TimeFilter | null {
  const pastDays = /\b(?:past|last) (\d{1,3}) days\b/i.exec(query);
  if (pastDays) {
    const days = Number(pastDays[1]);
    return { after: now.getTime() - days * DAY, before: now.getTime() + 1, phrase: pastDays[0] };
  }
  for (const p of PERIODS) {
    const m = p.re.exec(query);
    if (m) {
      const [a, b] = p.range(now);
      return { after: a.getTime(), before: b.getTime(), phrase: m[0] };
    }
  }
  const ago = periodAgo(query, now);
  if (ago) return ago;
  // chrono costs ~0.7 ms a query; most queries mention no time at all.
  if (!MAY_MENTION_TIME.test(query)) return null;
  const results = chrono.parse(query, now, { forwardDate: false });
  for (const r of results) {
    // Bare numbers and times of day ("at 5") are too weak to filter on.
    const s = r.start;
    if (!s.isCertain("month") && !s.isCertain("weekday") && !s.isCertain("day")) continue;
    let start: Date;
    let end: Date;
    if (r.end) {
      start = startOfDay(r.start.date());
      end = new Date(startOfDay(r.end.date()).getTime() + DAY);
    } else if (s.isCertain("day") || s.isCertain("weekday")) {
      start = startOfDay(s.date());
      end = new Date(start.getTime() + DAY);
    } else {
      const d = s.date();
      start = new Date(d.getFullYear(), d.getMonth(), 1);
      end = new Date(d.getFullYear(), d.getMonth() + 1, 1);
    }
    const repeats = s.isCertain("year")
      ? undefined
      : s.isCertain("weekday") && !s.isCertain("day")
        ? ("week" as const)
        : ("year" as const);
    const parsed = {
      after: start.getTime(),
      before: end.getTime(),
      phrase: r.text,
      ...(repeats ? { repeats } : {}),
    };
    // "in March" asked in February means last March, not next; "on Friday" asked on a Tuesday
    // means last Friday (chrono may read it forwards), not a day a year back.
    return start.getTime() > now.getTime() && repeats ? earlierPeriod(parsed, 1) : parsed;
  }
  return null;
}

/** How far back an open period is looked for: ten years of Junes, a year of Fridays. */
const MAX_REPEATS = { year: 10, week: 52 };

/** The same named period `n` years or weeks earlier (local calendar, so DST does not shift it). */
export function earlierPeriod(f: TimeFilter, n: number): TimeFilter {
  const shift = (ms: number) => {
    const d = new Date(ms);
    return f.repeats === "week"
      ? new Date(d.getFullYear(), d.getMonth(), d.getDate() - 7 * n, d.getHours()).getTime()
      : new Date(d.getFullYear() - n, d.getMonth(), d.getDate(), d.getHours()).getTime();
  };
  return { ...f, after: shift(f.after), before: shift(f.before) };
}

/**
 * "In June" asked in December about a conversation of two years ago means that June, not this
 * one: the latest period of the name that holds memories (`holds` asks the store). A period
 * that never repeats, or none that holds any, stays as parsed.
 */
export async function mostRecentHeld(
  f: TimeFilter,
  holds: (f: TimeFilter) => Promise<boolean>,
): Promise<TimeFilter> {
  if (!f.repeats) return f;
  for (let n = 0; n <= MAX_REPEATS[f.repeats]; n++) {
    const candidate = earlierPeriod(f, n);
    if (await holds(candidate)) return candidate;
  }
  return f;
}

/** The query with the time phrase removed, so "last week" does not steer keyword search. */
export function stripTimePhrase(query: string, filter: TimeFilter | null): string {
  if (!filter) return query;
  return query.replace(filter.phrase, " ").replace(/\s+/g, " ").trim();
}

/**
 * Words that, beside a time phrase, ask for nothing but the period: "what happened yesterday",
 * "anything new this week", "what did we work on last month".
 */
const PERIOD_ONLY_WORDS = new Set(
  (
    "happened happen happens happening going went new news recent recently latest memories memory " +
    "notes note events event activity activities stuff list show give everything anything done " +
    "occurred change changed changes update updates summary summarize summarise recap log logged " +
    "saved added learned learnt work worked working ago day days week weeks month months year years " +
    "since during period time please"
  ).split(" "),
);

/**
 * True when the query asks only for a period: after its time phrase, nothing is left but
 * stopwords and words like "happened". Searching for those words found nothing ("what
 * happened yesterday" returned no memory while yesterday had several); such a query lists
 * the period's memories instead.
 */
export function isPeriodOnlyQuery(
  query: string,
  filter: TimeFilter | null,
  isStopword: (word: string) => boolean,
): boolean {
  if (!filter) return false;
  const words =
    stripTimePhrase(query, filter)
      .toLowerCase()
      .normalize("NFKC")
      .match(/[\p{L}\p{N}_]+/gu) ?? [];
  return words.every((w) => isStopword(w) || PERIOD_ONLY_WORDS.has(w));
}
