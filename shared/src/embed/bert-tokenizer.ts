/**
 * BERT WordPiece tokenizer (the `BertNormalizer` + `BertPreTokenizer` + `WordPiece` pipeline
 * of Hugging Face `tokenizers`, which is what bge-small-en-v1.5's `tokenizer.json` names):
 *
 * 1. special tokens written in the text (`[SEP]`, `[MASK]`, …) stay whole, as the reference
 *    tokenizer matches them on the raw text;
 * 2. clean: drop NUL, U+FFFD and control/format characters, turn every whitespace into a space;
 * 3. put spaces around CJK ideographs so each is a word;
 * 4. strip accents (NFD, drop non-spacing marks), then lowercase (uncased models);
 * 5. split on whitespace and punctuation (every punctuation character is its own word);
 * 6. greedy longest-match WordPiece with `##` continuations; a word longer than 100
 *    characters, or one that cannot be covered by vocabulary pieces, becomes `[UNK]`;
 * 7. `[CLS] … [SEP]`, truncated to `maxLength` (512) tokens with `[SEP]` kept.
 *
 * Written for speed: an ASCII fast path, table lookups instead of regexes per character,
 * a Map vocabulary and a cache of recent words.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";

export interface BertEncoding {
  /** `[CLS] … [SEP]` token ids. */
  ids: number[];
  /** 1 for every token (padding is added later, per batch). */
  attentionMask: number[];
  /** 0 for every token (single-sequence input). */
  tokenTypeIds: number[];
}

export interface BertTokenizerOptions {
  /** Lowercase the text (uncased models). Default true. */
  doLowerCase?: boolean;
  /** Strip accents; `null`/absent follows `doLowerCase`, as in BERT. */
  stripAccents?: boolean | null;
  /** Split CJK ideographs into one word each. Default true. */
  tokenizeChineseChars?: boolean;
  /** Most tokens per text, `[CLS]` and `[SEP]` included. Default 512. */
  maxLength?: number;
  /** Words longer than this many characters become `[UNK]`. Default 100. */
  maxInputCharsPerWord?: number;
  unkToken?: string;
  clsToken?: string;
  sepToken?: string;
  padToken?: string;
  maskToken?: string;
}

/** The most tokens bge-small (and BERT-base shaped models) accept: its position table size. */
export const BERT_MAX_POSITIONS = 512;

const WORD_CACHE_LIMIT = 50_000;

// Character classes for ASCII: 0 = part of a word, 1 = whitespace, 2 = punctuation (BERT counts
// every ASCII symbol `!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~` as punctuation), 3 = dropped control.
const ASCII_CLASS = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  if (c === 9 || c === 10 || c === 13 || c === 32) ASCII_CLASS[c] = 1;
  else if (c < 32 || c === 127) ASCII_CLASS[c] = 3;
  else if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126))
    ASCII_CLASS[c] = 2;
}

// Unicode "Other" (Cc, Cf, Cs, Co, Cn) is dropped by the cleaner; \t \n \r are whitespace.
const OTHER_CHAR = /^\p{C}$/u;
// Rust's char::is_whitespace (Unicode White_Space), which the reference tokenizer uses.
const WHITE_SPACE_CHAR = /^\p{White_Space}$/u;
const PUNCTUATION_CHAR = /^\p{P}$/u;
const NONSPACING_MARKS = /\p{Mn}/gu;
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

function isCjkIdeograph(cp: number): boolean {
  return (
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) ||
    (cp >= 0x2b740 && cp <= 0x2b81f) ||
    (cp >= 0x2b820 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0x2f800 && cp <= 0x2fa1f)
  );
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

export class BertTokenizer {
  readonly vocabSize: number;
  readonly maxLength: number;
  readonly unkId: number;
  readonly clsId: number;
  readonly sepId: number;
  readonly padId: number;

  readonly #vocab: Map<string, number>;
  readonly #idToToken: readonly string[];
  readonly #lowercase: boolean;
  readonly #stripAccents: boolean;
  readonly #chineseChars: boolean;
  readonly #maxCharsPerWord: number;
  /** Longest vocabulary entry in UTF-16 units (`##` excluded): bounds the greedy search. */
  readonly #longestPiece: number;
  readonly #specialTokens: Map<string, number>;
  readonly #specialPattern: RegExp | null;
  readonly #wordCache = new Map<string, readonly number[]>();

  /** `vocab[i]` is the token with id `i` (the lines of `vocab.txt`). */
  constructor(vocab: readonly string[], options: BertTokenizerOptions = {}) {
    this.#idToToken = vocab;
    this.#vocab = new Map();
    let longest = 0;
    for (let i = 0; i < vocab.length; i++) {
      const token = vocab[i];
      if (!this.#vocab.has(token)) this.#vocab.set(token, i);
      const len = token.startsWith("##") ? token.length - 2 : token.length;
      if (len > longest) longest = len;
    }
    this.vocabSize = vocab.length;
    this.#longestPiece = longest;
    this.#lowercase = options.doLowerCase ?? true;
    this.#stripAccents = options.stripAccents ?? this.#lowercase;
    this.#chineseChars = options.tokenizeChineseChars ?? true;
    this.#maxCharsPerWord = options.maxInputCharsPerWord ?? 100;
    this.maxLength = Math.max(2, Math.min(options.maxLength ?? BERT_MAX_POSITIONS, BERT_MAX_POSITIONS));

    const idOf = (token: string): number => {
      const id = this.#vocab.get(token);
      if (id === undefined) throw new Error(`special token ${token} is not in the vocabulary`);
      return id;
    };
    this.unkId = idOf(options.unkToken ?? "[UNK]");
    this.clsId = idOf(options.clsToken ?? "[CLS]");
    this.sepId = idOf(options.sepToken ?? "[SEP]");
    this.padId = idOf(options.padToken ?? "[PAD]");
    this.#specialTokens = new Map();
    for (const token of [
      options.padToken ?? "[PAD]",
      options.unkToken ?? "[UNK]",
      options.clsToken ?? "[CLS]",
      options.sepToken ?? "[SEP]",
      options.maskToken ?? "[MASK]",
    ]) {
      const id = this.#vocab.get(token);
      if (id !== undefined) this.#specialTokens.set(token, id);
    }
    this.#specialPattern = this.#specialTokens.size
      ? new RegExp([...this.#specialTokens.keys()].map(escapeRegExp).join("|"), "g")
      : null;
  }

  /** Builds a tokenizer from the text of a `vocab.txt` (one token per line, id = line number). */
  static fromVocabText(text: string, options: BertTokenizerOptions = {}): BertTokenizer {
    const lines = text.split(/\r?\n/);
    if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
    return new BertTokenizer(lines, options);
  }

  /** The token string of an id (for tests and debugging). */
  idToToken(id: number): string | undefined {
    return this.#idToToken[id];
  }

  tokenToId(token: string): number | undefined {
    return this.#vocab.get(token);
  }

  /** WordPiece tokens of `text`, without `[CLS]`/`[SEP]` and without truncation. */
  tokenize(text: string): string[] {
    return this.tokenizeToIds(text).map((id) => this.#idToToken[id]);
  }

  /** WordPiece ids of `text`, without `[CLS]`/`[SEP]`, stopping once `limit` ids are found. */
  tokenizeToIds(text: string, limit = Number.POSITIVE_INFINITY): number[] {
    const out: number[] = [];
    const pattern = this.#specialPattern;
    if (pattern === null || !text.includes("[")) {
      this.#tokenizeSegment(text, out, limit);
      return out;
    }
    let last = 0;
    pattern.lastIndex = 0;
    for (let m = pattern.exec(text); m !== null && out.length < limit; m = pattern.exec(text)) {
      this.#tokenizeSegment(text.slice(last, m.index), out, limit);
      if (out.length < limit) out.push(this.#specialTokens.get(m[0]) as number);
      last = m.index + m[0].length;
    }
    if (out.length < limit) this.#tokenizeSegment(text.slice(last), out, limit);
    return out;
  }

  /** `[CLS] tokens [SEP]`, truncated to `maxLength` tokens (the final `[SEP]` is kept). */
  encode(text: string, maxLength: number = this.maxLength): BertEncoding {
    const room = Math.max(0, Math.min(maxLength, this.maxLength) - 2);
    const body = this.tokenizeToIds(text, room);
    if (body.length > room) body.length = room;
    const ids = [this.clsId, ...body, this.sepId];
    return {
      ids,
      attentionMask: new Array<number>(ids.length).fill(1),
      tokenTypeIds: new Array<number>(ids.length).fill(0),
    };
  }

  #tokenizeSegment(segment: string, out: number[], limit: number): void {
    if (segment.length === 0) return;
    const text = this.#normalize(segment);
    // Pre-tokenize: whitespace ends a word, punctuation is a word of its own.
    let wordStart = -1;
    for (let i = 0; i < text.length && out.length < limit; ) {
      const cp = text.codePointAt(i) as number;
      const width = cp > 0xffff ? 2 : 1;
      const cls = cp < 128 ? ASCII_CLASS[cp] : this.#classifyNonAscii(text, i, width);
      if (cls === 0) {
        if (wordStart < 0) wordStart = i;
      } else {
        if (wordStart >= 0) this.#wordPiece(text.slice(wordStart, i), out);
        wordStart = -1;
        if (cls === 2) this.#wordPiece(text.slice(i, i + width), out);
      }
      i += width;
    }
    if (wordStart >= 0 && out.length < limit) this.#wordPiece(text.slice(wordStart), out);
  }

  #classifyNonAscii(text: string, i: number, width: number): number {
    const ch = text.slice(i, i + width);
    if (WHITE_SPACE_CHAR.test(ch)) return 1;
    return PUNCTUATION_CHAR.test(ch) ? 2 : 0;
  }

  /** Clean, space out CJK ideographs, strip accents, lowercase. */
  #normalize(text: string): string {
    if (PRINTABLE_ASCII.test(text)) return this.#lowercase ? text.toLowerCase() : text;
    let cleaned = "";
    let runStart = 0; // copy untouched runs in one slice rather than char by char
    for (let i = 0; i < text.length; ) {
      const cp = text.codePointAt(i) as number;
      const width = cp > 0xffff ? 2 : 1;
      let replacement: string | null = null;
      if (cp < 128) {
        const cls = ASCII_CLASS[cp];
        if (cls === 3) replacement = "";
        else if (cls === 1 && cp !== 32) replacement = " ";
      } else {
        const ch = text.slice(i, i + width);
        if (cp === 0xfffd || OTHER_CHAR.test(ch)) replacement = "";
        else if (WHITE_SPACE_CHAR.test(ch)) replacement = " ";
        else if (this.#chineseChars && isCjkIdeograph(cp)) replacement = ` ${ch} `;
      }
      if (replacement !== null) {
        cleaned += text.slice(runStart, i) + replacement;
        runStart = i + width;
      }
      i += width;
    }
    cleaned += text.slice(runStart);
    if (this.#stripAccents) cleaned = cleaned.normalize("NFD").replace(NONSPACING_MARKS, "");
    return this.#lowercase ? cleaned.toLowerCase() : cleaned;
  }

  /** Greedy longest-match-first WordPiece; the whole word is `[UNK]` if any part is not covered. */
  #wordPiece(word: string, out: number[]): void {
    const cached = this.#wordCache.get(word);
    if (cached !== undefined) {
      for (const id of cached) out.push(id);
      return;
    }
    const ids = this.#wordPieceUncached(word);
    if (this.#wordCache.size >= WORD_CACHE_LIMIT) this.#wordCache.clear();
    this.#wordCache.set(word, ids);
    for (const id of ids) out.push(id);
  }

  #wordPieceUncached(word: string): readonly number[] {
    const direct = this.#vocab.get(word);
    if (direct !== undefined) return [direct];
    // Character boundaries in UTF-16 units, so that no piece splits a surrogate pair.
    let bounds: number[] | null = null;
    for (let i = 0; i < word.length; i++) {
      const c = word.charCodeAt(i);
      if (c >= 0xd800 && c <= 0xdbff) {
        bounds = [];
        for (let j = 0; j < word.length; ) {
          bounds.push(j);
          j += (word.codePointAt(j) as number) > 0xffff ? 2 : 1;
        }
        bounds.push(word.length);
        break;
      }
    }
    const chars = bounds ? bounds.length - 1 : word.length;
    if (chars > this.#maxCharsPerWord) return [this.unkId];
    const at = (k: number): number => (bounds ? bounds[k] : k);

    const ids: number[] = [];
    let start = 0;
    while (start < chars) {
      let end = Math.min(chars, start + this.#longestPiece);
      let found = -1;
      while (end > start) {
        const piece = word.slice(at(start), at(end));
        const id = this.#vocab.get(start > 0 ? `##${piece}` : piece);
        if (id !== undefined) {
          found = id;
          break;
        }
        end--;
      }
      if (found < 0) return [this.unkId];
      ids.push(found);
      start = end;
    }
    return ids;
  }
}

interface TokenizerConfigFile {
  do_lower_case?: boolean;
  strip_accents?: boolean | null;
  tokenize_chinese_chars?: boolean;
  model_max_length?: number;
  unk_token?: string;
  cls_token?: string;
  sep_token?: string;
  pad_token?: string;
  mask_token?: string;
}

/**
 * Loads `vocab.txt` from `dir`, with the settings of `tokenizer_config.json` when that file is
 * there (lowercasing, accents, max length). `overrides` win over the file.
 */
export async function loadBertTokenizer(
  dir: string,
  overrides: BertTokenizerOptions = {},
): Promise<BertTokenizer> {
  const vocabText = await readFile(join(dir, "vocab.txt"), "utf8");
  let config: TokenizerConfigFile = {};
  try {
    config = JSON.parse(await readFile(join(dir, "tokenizer_config.json"), "utf8")) as TokenizerConfigFile;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
  const given = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
  return BertTokenizer.fromVocabText(vocabText, {
    doLowerCase: config.do_lower_case,
    stripAccents: config.strip_accents,
    tokenizeChineseChars: config.tokenize_chinese_chars,
    // Some configs say 1e30 ("no limit"); the constructor caps it at the position table.
    maxLength: typeof config.model_max_length === "number" ? config.model_max_length : undefined,
    unkToken: str(config.unk_token),
    clsToken: str(config.cls_token),
    sepToken: str(config.sep_token),
    padToken: str(config.pad_token),
    maskToken: str(config.mask_token),
    ...given,
  });
}
