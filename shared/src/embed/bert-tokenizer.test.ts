import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { type BertTokenizer, loadBertTokenizer } from "./bert-tokenizer.ts";
import { BGE_TOKENIZER_DIR } from "./onnx-bert.ts";

// The reference tokenizer.json of bge-small-en-v1.5: in the `shared/` folder that sits beside
// the repository on build machines and in CI (TRIBAL_SHARED_DIR points elsewhere).
const SHARED_DIR =
  process.env.TRIBAL_SHARED_DIR ?? fileURLToPath(new URL("../../../../shared", import.meta.url));
const REFERENCE_TOKENIZER_JSON = join(SHARED_DIR, "models", "bge-small-en-v1.5", "tokenizer.json");

let tokenizer: BertTokenizer;
beforeAll(async () => {
  tokenizer = await loadBertTokenizer(BGE_TOKENIZER_DIR);
});

describe("BertTokenizer on the real bge-small-en-v1.5 vocabulary", () => {
  // Expected tokens were checked by hand against vocab.txt and against an independent Python
  // port of the Hugging Face BertNormalizer/BertPreTokenizer/WordPiece pipeline.
  const cases: [string, string[]][] = [
    ["Hello, World!", ["hello", ",", "world", "!"]],
    ["don't stop—ever…", ["don", "'", "t", "stop", "—", "ever", "…"]],
    [
      "price: $5.99 (approx) 100% C++",
      ["price", ":", "$", "5", ".", "99", "(", "approx", ")", "100", "%", "c", "+", "+"],
    ],
    [
      "getUserById(user_id) => {return null;}",
      [
        "get",
        "##user",
        "##by",
        "##id",
        "(",
        "user",
        "_",
        "id",
        ")",
        "=",
        ">",
        "{",
        "return",
        "null",
        ";",
        "}",
      ],
    ],
    ["@scope/pkg-name", ["@", "scope", "/", "p", "##k", "##g", "-", "name"]],
    ["Héllo naïve café Zürich", ["hello", "naive", "cafe", "zurich"]],
    ["e\u0301cole ŁÓDŹ", ["ecole", "łodz"]],
    [
      "¿Qué? «guillemets» “quotes”",
      ["¿", "que", "?", "«", "gui", "##lle", "##met", "##s", "»", "“", "quotes", "”"],
    ],
    ["unbelievably tribalmemory", ["un", "##bel", "##ie", "##va", "##bly", "tribal", "##me", "##mo", "##ry"]],
    ["I ❤️ emoji 😀 hi😀", ["i", "[UNK]", "em", "##oj", "##i", "[UNK]", "[UNK]"]],
    [
      "中文分词 and 日本語のテキスト",
      ["中", "文", "分", "[UNK]", "and", "日", "本", "語", "の", "##テ", "##キ", "##ス", "##ト"],
    ],
    // Control and zero-width characters vanish without splitting; NBSP, CR, LF are spaces.
    ["a\u0000b\tc\u200bd\u00a0e\r\nf", ["ab", "cd", "e", "f"]],
    ["\ufeffBOM \ufffd", ["bo", "##m"]],
    // Special tokens written in the text stay whole (case-sensitive), as in the reference.
    ["[CLS] hello [SEP] [MASK]x[unk]", ["[CLS]", "hello", "[SEP]", "[MASK]", "x", "[", "un", "##k", "]"]],
    ["", []],
    ["   \n\t ", []],
  ];
  for (const [text, expected] of cases) {
    it(`tokenizes ${JSON.stringify(text)}`, () => {
      expect(tokenizer.tokenize(text)).toEqual(expected);
    });
  }

  it("maps known words to the ids of the bge vocabulary", () => {
    expect(tokenizer.encode("Hello world").ids).toEqual([101, 7592, 2088, 102]);
    expect(tokenizer.encode("@scope/pkg-name").ids).toEqual([
      101, 1030, 9531, 1013, 1052, 2243, 2290, 1011, 2171, 102,
    ]);
  });

  it("turns a word over 100 characters into one [UNK], and splits one of 100", () => {
    expect(tokenizer.tokenize(`${"a".repeat(101)} ok`)).toEqual(["[UNK]", "ok"]);
    const hundred = tokenizer.tokenize("ab".repeat(50));
    expect(hundred.length).toBeGreaterThan(1);
    expect(hundred).not.toContain("[UNK]");
  });

  it("returns ids, an all-ones attention mask and zero token types", () => {
    const enc = tokenizer.encode("memory for agents");
    expect(enc.ids[0]).toBe(tokenizer.clsId);
    expect(enc.ids.at(-1)).toBe(tokenizer.sepId);
    expect(enc.attentionMask).toEqual(enc.ids.map(() => 1));
    expect(enc.tokenTypeIds).toEqual(enc.ids.map(() => 0));
  });

  it("truncates to 512 tokens and keeps [SEP] last", () => {
    const enc = tokenizer.encode("word ".repeat(2000));
    expect(enc.ids).toHaveLength(512);
    expect(enc.ids[0]).toBe(101);
    expect(enc.ids[511]).toBe(102);
    expect(enc.ids[510]).toBe(tokenizer.tokenToId("word"));
    expect(tokenizer.encode("word ".repeat(2000), 16).ids).toHaveLength(16);
  });

  it("reads do_lower_case and model_max_length from tokenizer_config.json", () => {
    expect(tokenizer.maxLength).toBe(512);
    expect(tokenizer.tokenize("HELLO")).toEqual(["hello"]);
  });

  it("tokenizes a thousand 1 kB texts in well under a second", () => {
    const text =
      "The daemon stores memories for agents; recall merges FTS and vectors. café @scope/pkg 2026-05-01\n".repeat(
        10,
      );
    const started = performance.now();
    for (let i = 0; i < 1000; i++) tokenizer.encode(`${i} ${text}`);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  // Skipped only outside CI (a clone without ../shared); in CI a missing file fails the test.
  it.skipIf(!process.env.CI && !existsSync(REFERENCE_TOKENIZER_JSON))(
    "uses the same ids as the reference tokenizer.json",
    () => {
      const reference = JSON.parse(readFileSync(REFERENCE_TOKENIZER_JSON, "utf8")) as {
        model: {
          vocab: Record<string, number>;
          max_input_chars_per_word: number;
          continuing_subword_prefix: string;
        };
        normalizer: { lowercase: boolean; handle_chinese_chars: boolean; clean_text: boolean };
      };
      expect(reference.model.max_input_chars_per_word).toBe(100);
      expect(reference.model.continuing_subword_prefix).toBe("##");
      expect(reference.normalizer).toMatchObject({
        lowercase: true,
        handle_chinese_chars: true,
        clean_text: true,
      });
      const entries = Object.entries(reference.model.vocab);
      expect(entries).toHaveLength(tokenizer.vocabSize);
      for (const [token, id] of entries)
        if (tokenizer.tokenToId(token) !== id) expect.fail(`${token}: ${id}`);
    },
  );
});
