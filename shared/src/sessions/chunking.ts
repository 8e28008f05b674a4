/**
 * Session transcripts become overlapping windows of about 300 words. A window is bounded by
 * words AND characters, and a "word" longer than MAX_TOKEN_CHARS is cut into pieces, so a
 * 10 MB line with no spaces (a base64 blob in a tool result) costs linear time and yields
 * bounded chunks. Every window starts strictly after the previous one: the loop terminates
 * for every input.
 */

export interface ChunkingOptions {
  /** Words per window (TribalMemory used ~400 tokens ≈ 300 words). */
  targetWords: number;
  /** Words repeated from the end of one window at the start of the next. */
  overlapWords: number;
  /** Hard cap on a window's characters (CJK text or pasted blobs have few spaces). */
  maxChars: number;
}

export const DEFAULT_CHUNKING: ChunkingOptions = { targetWords: 300, overlapWords: 50, maxChars: 2400 };

/** Longest piece one "word" may be; longer runs of non-space characters are cut. */
export const MAX_TOKEN_CHARS = 64;

export interface ChunkMessage {
  /** Position of the message in its session (monotonic). */
  seq: number;
  role: string;
  content: string;
  timestampMs: number;
}

/** Where a chunk starts: a message and a word offset inside it. */
export interface ChunkStart {
  seq: number;
  token: number;
}

export interface SessionChunkDraft {
  start: ChunkStart;
  lastSeq: number;
  content: string;
  wordCount: number;
  startMs: number;
  endMs: number;
}

interface Token {
  msg: number;
  /** Index of the token inside its message. */
  index: number;
  text: string;
}

/**
 * Split text into tokens on whitespace, cutting long runs. A hand-written scan rather than a
 * regex: no backtracking, one pass over the characters.
 */
export function tokenize(text: string, maxTokenChars = MAX_TOKEN_CHARS): string[] {
  const out: string[] = [];
  let start = -1;
  for (let i = 0; i <= text.length; i++) {
    const code = i < text.length ? text.charCodeAt(i) : 32;
    const space =
      code === 32 || code === 10 || code === 9 || code === 13 || code === 12 || code === 11 || code === 0xa0;
    if (space) {
      if (start >= 0) pushCut(out, text, start, i, maxTokenChars);
      start = -1;
    } else if (start < 0) {
      start = i;
    }
  }
  return out;
}

function pushCut(out: string[], text: string, from: number, to: number, max: number): void {
  let p = from;
  while (p < to) {
    let end = Math.min(to, p + max);
    // Never split a surrogate pair: the piece would not be valid Unicode.
    const c = text.charCodeAt(end - 1);
    if (end < to && end - p > 1 && c >= 0xd800 && c <= 0xdbff) end -= 1;
    out.push(text.slice(p, end));
    p = end;
  }
}

/**
 * Chunk messages from `start` (a message seq and token offset) to the end. Returns windows in
 * order; the caller treats the last one as open (re-chunked when more messages arrive), which
 * makes incremental chunking equal to chunking the whole session at once.
 */
export function chunkMessages(
  messages: ChunkMessage[],
  start: ChunkStart | null = null,
  options: ChunkingOptions = DEFAULT_CHUNKING,
): SessionChunkDraft[] {
  const tokens: Token[] = [];
  messages.forEach((m, msg) => {
    if (start && m.seq < start.seq) return;
    const words = tokenize(m.content);
    const from = start && m.seq === start.seq ? start.token : 0;
    for (let i = from; i < words.length; i++) tokens.push({ msg, index: i, text: words[i] });
  });
  const target = Math.max(1, options.targetWords);
  const overlap = Math.min(Math.max(0, options.overlapWords), target - 1);
  const chunks: SessionChunkDraft[] = [];
  let i = 0;
  while (i < tokens.length) {
    let j = i;
    let chars = 0;
    while (
      j < tokens.length &&
      j - i < target &&
      (j === i || chars + tokens[j].text.length + 1 <= options.maxChars)
    ) {
      chars += tokens[j].text.length + 1;
      j++;
    }
    chunks.push(renderChunk(messages, tokens, i, j));
    if (j >= tokens.length) break;
    // Overlap in proportion to the window, and always move forward: termination.
    const back = Math.min(overlap, Math.floor(((j - i) * overlap) / target));
    i = Math.max(i + 1, j - back);
  }
  return chunks;
}

function renderChunk(messages: ChunkMessage[], tokens: Token[], from: number, to: number): SessionChunkDraft {
  const parts: string[] = [];
  let currentMsg = -1;
  for (let k = from; k < to; k++) {
    const t = tokens[k];
    if (t.msg !== currentMsg) {
      const role = messages[t.msg].role;
      parts.push(`${parts.length ? "\n" : ""}${role}:${t.index > 0 ? " …" : ""}`);
      currentMsg = t.msg;
    }
    parts.push(` ${t.text}`);
  }
  const first = messages[tokens[from].msg];
  const last = messages[tokens[to - 1].msg];
  return {
    start: { seq: first.seq, token: tokens[from].index },
    lastSeq: last.seq,
    content: parts.join(""),
    wordCount: to - from,
    startMs: first.timestampMs,
    endMs: last.timestampMs,
  };
}
