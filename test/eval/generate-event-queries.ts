/**
 * Temporal queries about *event* dates: the day a memory says something happened ("On Friday
 * we rolled back…", "January 9: … outage"), which differs from the day it was written. Derived
 * deterministically from data/memories.jsonl into data/event-queries.jsonl (category
 * `temporal-event`), so recall's event-date step is measured, not assumed. The event day is
 * computed here from the memory's wording, independently of the code under test.
 *
 *   node test/eval/generate-event-queries.ts [--check]
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DEFAULT_DATA_DIR, type EvalQuery, loadMemories } from "./dataset.ts";

const DAY = 86_400_000;
const WEEKDAYS = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"];
const MONTHS = [
  "january",
  "february",
  "march",
  "april",
  "may",
  "june",
  "july",
  "august",
  "september",
  "october",
  "november",
  "december",
];

function dayOf(ms: number): number {
  return Math.floor(ms / DAY) * DAY;
}

export function eventQueries(): EvalQuery[] {
  const memories = loadMemories();
  const superseded = new Set(memories.flatMap((m) => (m.supersedes ? [m.supersedes] : [])));
  const groups = new Map<
    string,
    { kind: "rollback" | "outage"; day: number; ids: string[]; created: number }
  >();
  for (const m of memories) {
    if (superseded.has(m.id)) continue;
    const created = Date.parse(m.created_at);
    let kind: "rollback" | "outage" | null = null;
    let day = 0;
    const weekday = /^On (\w+day) we rolled back /.exec(m.content);
    const monthDay = /^(\w+) (\d{1,2}): [\w-]+ had an? [\w-]+ (?:partial )?outage/.exec(m.content);
    if (weekday) {
      const target = WEEKDAYS.indexOf(weekday[1].toLowerCase());
      const createdDay = new Date(dayOf(created)).getUTCDay();
      const back = (createdDay - target + 7) % 7;
      if (target < 0 || back === 0) continue; // said on that very weekday: ambiguous
      kind = "rollback";
      day = dayOf(created) - back * DAY;
    } else if (monthDay) {
      const month = MONTHS.indexOf(monthDay[1].toLowerCase());
      if (month < 0) continue;
      const year = new Date(created).getUTCFullYear();
      day = Date.UTC(year, month, Number(monthDay[2]));
      if (day > created) day = Date.UTC(year - 1, month, Number(monthDay[2]));
      kind = "outage";
    }
    if (!kind || dayOf(created) === day) continue; // only events written down on a later day
    const key = `${kind}:${day}`;
    const g = groups.get(key) ?? { kind, day, ids: [], created: 0 };
    g.ids.push(m.id);
    g.created = Math.max(g.created, created);
    groups.set(key, g);
  }
  const out: EvalQuery[] = [];
  let n = 0;
  for (const g of [...groups.values()].sort((a, b) => a.day - b.day || a.kind.localeCompare(b.kind))) {
    const d = new Date(g.day);
    const when = `${MONTHS[d.getUTCMonth()][0].toUpperCase()}${MONTHS[d.getUTCMonth()].slice(1)} ${d.getUTCDate()}`;
    const query =
      g.kind === "rollback" ? `Which release did we roll back on ${when}?` : `What had an outage on ${when}?`;
    n++;
    out.push({
      id: `q-temporal-event-${String(n).padStart(3, "0")}`,
      query,
      category: "temporal-event" as EvalQuery["category"],
      relevant_ids: g.ids.sort(),
      reference_date: new Date(dayOf(g.created) + 10 * DAY + 17 * 3_600_000).toISOString(),
      window: {
        after: new Date(g.day).toISOString(),
        before: new Date(g.day + DAY).toISOString(),
        expression: `on ${when}`,
      },
    });
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const path = join(DEFAULT_DATA_DIR, "event-queries.jsonl");
  const text = `${eventQueries()
    .map((q) => JSON.stringify(q))
    .join("\n")}\n`;
  if (process.argv.includes("--check")) {
    if (readFileSync(path, "utf8") !== text) {
      console.error(`${path} differs from the generator; run node test/eval/generate-event-queries.ts`);
      process.exit(1);
    }
  } else {
    writeFileSync(path, text);
    console.log(`wrote ${path}`);
  }
}
