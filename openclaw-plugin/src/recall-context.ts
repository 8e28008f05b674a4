import { estimateTokens } from "./budget.ts";
import type { RecallHit } from "./client.ts";

/**
 * Recalled memories as model context, within a token budget. Memory text is data written by
 * other agents and people: `<` and `>` are escaped so a memory cannot close the block and speak
 * as the system, and the header tells the model the user's current words win.
 */
export const CONTEXT_OPEN = "<tribal-memories>";
export const CONTEXT_CLOSE = "</tribal-memories>";
const HEADER =
  "Memories shared by the user's agents through TribalMemory (may be outdated; the user's current words win):";

export interface FittedContext {
  text: string;
  tokens: number;
  memoryIds: string[];
}

function line(hit: RecallHit): string {
  const day = hit.memory.created_at.slice(0, 10);
  const content = hit.memory.content.replace(/\s+/g, " ").trim().replace(/</g, "&lt;").replace(/>/g, "&gt;");
  return `- [${day}] ${content} (id ${hit.memory.id})`;
}

/**
 * The hits in rank order that fit `budget` tokens with the block's frame; a first hit longer
 * than the whole budget is cut rather than dropped. Null when nothing fits.
 */
export function fitRecallContext(hits: RecallHit[], budget: number): FittedContext | null {
  const frame = `${CONTEXT_OPEN}\n${HEADER}\n${CONTEXT_CLOSE}`;
  let used = estimateTokens(frame);
  const lines: string[] = [];
  const ids: string[] = [];
  for (const hit of hits) {
    let l = line(hit);
    const cost = estimateTokens(`${l}\n`);
    if (used + cost > budget) {
      if (lines.length > 0) break;
      const room = (budget - used) * 4 - 2;
      if (room < 80) break;
      l = `${l.slice(0, room - 1)}…`;
    }
    lines.push(l);
    ids.push(hit.memory.id);
    used += estimateTokens(`${l}\n`);
  }
  if (lines.length === 0) return null;
  const text = `${CONTEXT_OPEN}\n${HEADER}\n${lines.join("\n")}\n${CONTEXT_CLOSE}`;
  return { text, tokens: estimateTokens(text), memoryIds: ids };
}
