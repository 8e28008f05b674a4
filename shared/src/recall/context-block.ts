/**
 * Auto-recall for agent runtimes: the query a conversation's last turns ask, and the block of
 * relevant memories an agent runtime prepends to its prompt, within a token budget. What
 * TribalMemory's OpenClaw plugin did on the client, served once for every runtime.
 */

export interface ContextTurn {
  role: string;
  content: string;
}

export interface ContextItem {
  kind: "memory" | "session";
  id: string;
  content: string;
  score: number;
  created_at: string;
  tags: string[];
}

/** Tokens are estimated at 4 characters each: close enough for English and cheap. */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

/**
 * The latest user turn says what is needed now; the turn before gives it context. Long turns
 * keep their end, where the question usually is.
 */
export function contextQuery(turns: ContextTurn[], maxChars = 4000): string {
  const lastUser = [...turns].reverse().findIndex((t) => t.role === "user");
  const idx = lastUser === -1 ? turns.length - 1 : turns.length - 1 - lastUser;
  const main = turns[idx]?.content.trim() ?? "";
  const before = idx > 0 ? turns[idx - 1].content.trim() : "";
  const mainPart = main.length > maxChars * 0.75 ? main.slice(-Math.floor(maxChars * 0.75)) : main;
  const room = maxChars - mainPart.length - 1;
  const beforePart = room > 0 && before ? before.slice(-room) : "";
  return `${beforePart}${beforePart ? "\n" : ""}${mainPart}`.trim();
}

const HEADER = "<relevant-memories>\nThings TribalMemory remembers that may help (most relevant first):";
const FOOTER = "</relevant-memories>";

/** Format items best-first until the budget is spent; an item that does not fit is cut, then dropped. */
export function formatContextBlock(
  items: ContextItem[],
  maxTokens: number,
): { context: string; included: ContextItem[]; tokens: number; truncated: boolean } {
  if (!items.length) return { context: "", included: [], tokens: 0, truncated: false };
  const budgetChars = maxTokens * 4;
  let used = HEADER.length + FOOTER.length + 2;
  const lines: string[] = [];
  const included: ContextItem[] = [];
  let truncated = false;
  for (const item of items) {
    const prefix = `- [${item.created_at.slice(0, 10)}${item.tags.length ? ` · ${item.tags.join(", ")}` : ""}${item.kind === "session" ? " · from a past session" : ""}] `;
    const text = item.content.replace(/\s+/g, " ").trim();
    const room = budgetChars - used - prefix.length - 1;
    if (room < 40) {
      truncated = true;
      break;
    }
    const body = text.length <= room ? text : `${text.slice(0, room - 1)}…`;
    if (body.length < text.length) truncated = true;
    lines.push(prefix + body);
    used += prefix.length + body.length + 1;
    included.push(item);
  }
  if (!lines.length) return { context: "", included: [], tokens: 0, truncated: true };
  const context = `${HEADER}\n${lines.join("\n")}\n${FOOTER}`;
  return { context, included, tokens: estimateTokens(context), truncated };
}
