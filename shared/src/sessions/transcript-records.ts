import { sha256Hex } from "../memory/content.ts";
import type { SessionMessageInput } from "./schemas.ts";

/**
 * Transcript lines of Claude Code (`~/.claude/projects/<project>/<session>.jsonl`) and Codex
 * (`~/.codex/sessions/YYYY/MM/DD/rollout-….jsonl`) turned into session messages. Anything else
 * (summaries, tool-call bookkeeping, record types that do not exist yet) is skipped: the
 * formats change without notice and a watcher must not stop on a line it does not know.
 */
export type TranscriptFormat = "claude-code" | "codex";

export type TranscriptLine =
  | { kind: "message"; message: SessionMessageInput }
  | { kind: "skipped"; reason: "not-json" | "unknown-record" | "empty" };

export function transcriptFormatOf(path: string): TranscriptFormat {
  return /[\\/]\.codex[\\/]|(^|[\\/])rollout-[^\\/]*$/.test(path) ? "codex" : "claude-code";
}

/** The session a transcript file holds: its file name without `.jsonl`, prefixed by format. */
export function transcriptSessionId(path: string, format: TranscriptFormat): string {
  const base = path.split(/[\\/]/).pop() ?? path;
  return `${format}:${base.replace(/\.jsonl$/i, "")}`;
}

export function parseTranscriptLine(line: string, format: TranscriptFormat): TranscriptLine {
  let record: unknown;
  try {
    record = JSON.parse(line);
  } catch {
    return { kind: "skipped", reason: "not-json" };
  }
  if (!record || typeof record !== "object" || Array.isArray(record))
    return { kind: "skipped", reason: "unknown-record" };
  const r = record as Record<string, unknown>;
  const parsed = format === "codex" ? codexMessage(r) : claudeMessage(r);
  if (!parsed) return { kind: "skipped", reason: "unknown-record" };
  if (!parsed.content.trim()) return { kind: "skipped", reason: "empty" };
  // Resending a line yields the same id: the uuid when the runtime gives one, else its hash.
  const id = typeof r.uuid === "string" && r.uuid ? r.uuid : sha256Hex(line).slice(0, 32);
  return {
    kind: "message",
    message: { role: parsed.role, content: parsed.content, timestamp: stringOr(r.timestamp), id },
  };
}

function claudeMessage(r: Record<string, unknown>): { role: string; content: string } | null {
  if (r.type !== "user" && r.type !== "assistant") return null;
  if (r.isMeta === true) return null;
  const message = r.message as { role?: unknown; content?: unknown } | undefined;
  if (!message || typeof message !== "object") return null;
  const role = typeof message.role === "string" ? message.role : (r.type as string);
  return { role, content: textOf(message.content) };
}

function codexMessage(r: Record<string, unknown>): { role: string; content: string } | null {
  // Current format wraps items: {type:"response_item", payload:{type:"message", role, content}}.
  const item = (r.type === "response_item" ? r.payload : r) as Record<string, unknown> | undefined;
  if (!item || typeof item !== "object" || item.type !== "message") return null;
  if (item.role !== "user" && item.role !== "assistant") return null;
  return { role: item.role, content: textOf(item.content) };
}

/** Text parts of a content value: a string, or an array of {type:"text"|"input_text"|…, text}. */
function textOf(content: unknown): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  const parts: string[] = [];
  for (const part of content) {
    if (!part || typeof part !== "object") continue;
    const p = part as Record<string, unknown>;
    if (
      typeof p.text === "string" &&
      (p.type === "text" || p.type === "input_text" || p.type === "output_text")
    ) {
      parts.push(p.text);
    } else if (p.type === "tool_result") {
      const inner = textOf(p.content);
      if (inner) parts.push(`[tool result] ${inner}`);
    }
  }
  return parts.join("\n");
}

function stringOr(v: unknown): string | undefined {
  return typeof v === "string" && v ? v.slice(0, 64) : undefined;
}
