import * as chrono from "chrono-node";

/** A day range a memory's text talks about, half-open [start, end) in epoch ms. */
export interface EventDate {
  start: number;
  end: number;
  /** The words that named it ("on Friday", "March 3"). */
  text: string;
}

const DAY = 86_400_000;
const MAY_MENTION_DATE =
  /\b(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t|tember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?|(?:mon|tues?|wed(?:nes)?|thu(?:rs)?|fri|sat(?:ur)?|sun)(?:day)?|yesterday|today|tonight|tomorrow|ago|\d{4}-\d{2}-\d{2}|\d{1,2}\/\d{1,2})\b/i;

/**
 * Dates a memory mentions, resolved against the memory's own time: "on Friday we moved to
 * Postgres" written on a Monday means the Friday before it, not the next one. Only day- or
 * month-certain mentions count; times of day and bare numbers are too weak to date an event.
 * At most 4 per memory: a long turn listing many dates is not *about* all of them.
 */
export function extractEventDates(text: string, createdAt: Date): EventDate[] {
  if (!MAY_MENTION_DATE.test(text)) return [];
  const out: EventDate[] = [];
  // chrono's cost grows with length; the dates that matter sit in the first few thousand chars.
  for (const r of chrono.parse(text.slice(0, 4000), createdAt, { forwardDate: false })) {
    const s = r.start;
    const dayCertain = s.isCertain("day") || s.isCertain("weekday");
    if (!dayCertain && !s.isCertain("month")) continue;
    // "today" / "yesterday" resolve to the memory's own day or the one before: still an event date.
    let start: number;
    let end: number;
    const d = s.date();
    if (dayCertain) {
      start = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
      end = r.end
        ? Date.UTC(r.end.date().getUTCFullYear(), r.end.date().getUTCMonth(), r.end.date().getUTCDate()) + DAY
        : start + DAY;
    } else {
      start = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
      end = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
    }
    const weekdayOnly = s.isCertain("weekday") && !s.isCertain("day");
    const written = Date.UTC(createdAt.getUTCFullYear(), createdAt.getUTCMonth(), createdAt.getUTCDate());
    if (weekdayOnly && !/\b(?:next|coming|this)\b/i.test(r.text)) {
      // "On Friday we rolled back" is the last Friday up to the day it was written: chrono takes
      // the nearest one, which from a Tuesday to a Thursday is the coming Friday.
      while (start > written) {
        start -= 7 * DAY;
        end -= 7 * DAY;
      }
    } else if (start > createdAt.getTime() + DAY && !s.isCertain("year") && !weekdayOnly) {
      // A date after the memory was written that the text does not pin to a year is a past
      // date chrono resolved forwards ("March 3" written in February means last March).
      const a = new Date(start);
      const b = new Date(end);
      start = Date.UTC(a.getUTCFullYear() - 1, a.getUTCMonth(), a.getUTCDate());
      end = Date.UTC(b.getUTCFullYear() - 1, b.getUTCMonth(), b.getUTCDate());
    }
    if (end <= start) end = start + DAY;
    out.push({ start, end, text: r.text });
    if (out.length >= 4) break;
  }
  return out;
}
