import { existsSync, readFileSync } from "node:fs";

/** One dialogue turn of a LoCoMo conversation, the unit stored as one memory. */
export interface LocomoTurn {
  conversation: string;
  diaId: string;
  speaker: string;
  /** `"Speaker: text"`, the usual LoCoMo retrieval unit. */
  content: string;
  /** The session's date: the turn was said then. */
  createdAt: Date;
}

export interface LocomoQuestion {
  conversation: string;
  question: string;
  category: number;
  /** Turns (`dia_id`) that hold the answer. */
  evidence: string[];
}

export const CATEGORY_NAMES: Record<number, string> = {
  1: "multi-hop",
  2: "temporal",
  3: "open-domain",
  4: "single-hop",
};

interface RawTurn {
  speaker: string;
  dia_id: string;
  text: string;
}
interface RawSample {
  sample_id: string;
  conversation: Record<string, unknown>;
  qa: { question: string; evidence?: string[]; category: number }[];
}

const MONTHS = "january february march april may june july august september october november december".split(
  " ",
);

/** `"1:56 pm on 8 May, 2023"` → that instant, read as UTC (the file gives no zone). */
export function parseSessionDate(s: string): Date {
  const m = /(\d{1,2}):(\d{2})\s*(am|pm)\s+on\s+(\d{1,2})\s+([A-Za-z]+),?\s+(\d{4})/i.exec(s);
  const month = m ? MONTHS.indexOf(m[5].toLowerCase()) : -1;
  if (!m || month < 0) throw new Error(`LoCoMo: unreadable session date ${JSON.stringify(s)}`);
  const hour = (Number(m[1]) % 12) + (m[3].toLowerCase() === "pm" ? 12 : 0);
  return new Date(Date.UTC(Number(m[6]), month, Number(m[4]), hour, Number(m[2])));
}

/**
 * Turns and questions (categories 1–4, with evidence) of the LoCoMo file. Category 5 has no
 * answer in the conversation, so no evidence to score.
 */
export function loadLocomo(path: string): { turns: LocomoTurn[]; questions: LocomoQuestion[] } {
  if (!existsSync(path)) {
    throw new Error(
      `LoCoMo dataset not found at ${path}. Put locomo10.json there (see ../shared/datasets/README.md) or pass --dataset <file>.`,
    );
  }
  const samples = JSON.parse(readFileSync(path, "utf8")) as RawSample[];
  const turns: LocomoTurn[] = [];
  const questions: LocomoQuestion[] = [];
  for (const s of samples) {
    const conv = s.conversation;
    for (const key of Object.keys(conv)) {
      const session = /^session_(\d+)$/.exec(key);
      if (!session) continue;
      const when = conv[`${key}_date_time`];
      if (typeof when !== "string") continue;
      const createdAt = parseSessionDate(when);
      for (const t of conv[key] as RawTurn[]) {
        turns.push({
          conversation: s.sample_id,
          diaId: t.dia_id,
          speaker: t.speaker,
          content: `${t.speaker}: ${t.text}`,
          createdAt,
        });
      }
    }
    for (const q of s.qa) {
      if (!(q.category in CATEGORY_NAMES) || !q.evidence?.length) continue;
      questions.push({
        conversation: s.sample_id,
        question: q.question,
        category: q.category,
        evidence: q.evidence,
      });
    }
  }
  return { turns, questions };
}
