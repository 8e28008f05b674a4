import { CONTEXT_OPEN } from "./recall-context.ts";

/**
 * Auto-capture: durable facts in what the user said during a turn. A durable fact is a
 * decision ("we decided to use Postgres"), a preference ("I prefer tabs"), a standing fact
 * about the user or their project ("my timezone is CET", "our API runs on Fly"), or an explicit
 * "remember that …". Chit-chat, questions, code and text the plugin itself injected are left
 * out. Only the user's own words are read: an assistant's reply restates, guesses and
 * hallucinates, and storing it would make the memory repeat the model back to itself.
 */
export type CaptureKind = "decision" | "preference" | "fact" | "explicit";

export interface Candidate {
  content: string;
  kind: CaptureKind;
}

const RULES: [CaptureKind, RegExp][] = [
  ["explicit", /^(?:please\s+)?(?:remember|note|keep in mind)(?:\s+that)?[:,]?\s+(.{8,})$/i],
  [
    "decision",
    /\b(?:we|i|the team)\s+(?:have\s+)?(?:decided|chose|agreed|settled on|standardi[sz]ed on|are going with|went with|will use|'ll use|switched to|moved to)\b/i,
  ],
  ["decision", /\b(?:let'?s|we should)\s+(?:go with|use|stick with|standardi[sz]e on)\b/i],
  ["decision", /^decision:/i],
  ["preference", /\bi\s+(?:really\s+)?(?:prefer|like|love|hate|dislike|don'?t like|always|never|usually)\b/i],
  ["preference", /\bmy\s+(?:favou?rite|preferred)\b/i],
  ["preference", /^(?:please\s+)?(?:always|never|don'?t ever)\s+\w+/i],
  [
    "fact",
    /\bmy\s+(?:name|email|role|team|title|timezone|time zone|birthday|company|employer|manager|handle|username|pronouns)\s+(?:is|are)\b/i,
  ],
  [
    "fact",
    /\bi(?:'m| am)\s+(?:based in|located in|working on|responsible for|the\s+\w+\s+(?:lead|owner))\b/i,
  ],
  ["fact", /\bi\s+(?:work|live)\s+(?:at|in|for|on)\b/i],
  [
    "fact",
    /\b(?:our|the)\s+(?:[\w-]+\s+){0,3}(?:server|service|repo|repository|database|db|api|deadline|budget|project|stack|cluster|domain|staging|production|prod)\s+(?:is|are|runs|uses|lives|lives at|will be)\b/i,
  ],
];

/** Greetings, thanks and acknowledgements: nothing to keep. */
const CHIT_CHAT =
  /^(?:hi|hello|hey|yo|thanks|thank you|thx|ok|okay|k|cool|great|nice|awesome|lol|sure|yes|yep|no|nope|bye|good (?:morning|night|evening))\b/i;
const MIN_CHARS = 12;
const MAX_CHARS = 500;

/** The text of a transcript message in OpenClaw's shapes (string content or text parts). */
export function messageText(message: unknown): { role: string; text: string } | null {
  if (!message || typeof message !== "object") return null;
  const m = message as { role?: unknown; content?: unknown };
  if (typeof m.role !== "string") return null;
  if (typeof m.content === "string") return { role: m.role, text: m.content };
  if (!Array.isArray(m.content)) return null;
  const parts = m.content.flatMap((p) =>
    p &&
    typeof p === "object" &&
    (p as { type?: unknown }).type === "text" &&
    typeof (p as { text?: unknown }).text === "string"
      ? [(p as { text: string }).text]
      : [],
  );
  return parts.length ? { role: m.role, text: parts.join("\n") } : null;
}

export function normalizeForDedup(text: string): string {
  return text
    .normalize("NFC")
    .toLowerCase()
    .replace(/\s+/g, " ")
    .replace(/[.!]+$/, "")
    .trim();
}

/** Sentences of a user message worth keeping, with their kind, at most `max`. */
export function durableFacts(text: string, max: number): Candidate[] {
  // Injected memory blocks, fenced code and quoted replies are not the user's statements.
  if (text.includes(CONTEXT_OPEN)) text = text.replace(/<tribal-memories>[\s\S]*?<\/tribal-memories>/g, " ");
  text = text.replace(/```[\s\S]*?```/g, " ").replace(/^>.*$/gm, " ");
  const out: Candidate[] = [];
  for (const raw of text.split(/(?<=[.!?])\s+|\n+/)) {
    const sentence = raw.trim();
    if (sentence.length < MIN_CHARS || sentence.length > MAX_CHARS) continue;
    if (sentence.endsWith("?") || sentence.startsWith("/")) continue;
    if (CHIT_CHAT.test(sentence) && sentence.length < 40) continue;
    for (const [kind, rule] of RULES) {
      const m = rule.exec(sentence);
      if (!m) continue;
      const content = kind === "explicit" ? m[1].trim() : sentence;
      out.push({ content: content.replace(/\s+/g, " "), kind });
      break;
    }
    if (out.length >= max) break;
  }
  return out;
}
