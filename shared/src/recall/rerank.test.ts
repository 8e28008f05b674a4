import { describe, expect, it } from "vitest";
import type { Memory } from "../memory/types.ts";
import type { FusedHit } from "./fusion.ts";
import { askedShare, rerankCandidates, speakerOf } from "./rerank.ts";

const memory = (id: string, content: string, extra: Partial<Memory> = {}): Memory => ({
  id,
  content,
  source_type: "user_explicit",
  source_instance: "t",
  tags: [],
  context: null,
  confidence: 1,
  supersedes: null,
  duplicate_of: null,
  created_at: "2025-01-01T00:00:00Z",
  updated_at: "2025-01-01T00:00:00Z",
  deleted: false,
  ...extra,
});
const hit = (id: string, score: number): FusedHit => ({ id, score, signals: {} });
const off = {
  entityOverlap: null,
  speakers: null,
  questions: false,
  confidence: false,
  mmr: false,
  recency: false,
  now: Date.parse("2025-06-01"),
  picks: 10,
};

describe("rerankCandidates", () => {
  it("changes nothing when every step is off", () => {
    const head = [hit("a", 0.5), hit("b", 0.4)];
    expect(rerankCandidates(head, new Map(), off)).toBe(head);
  });

  it("lets a different memory pass a near-duplicate of the first with MMR", () => {
    const mems = new Map([
      ["a", memory("a", "ledger-api uses Postgres 15 in production")],
      ["b", memory("b", "ledger-api uses Postgres 15 in production today")],
      ["c", memory("c", "Priya carries the ledger-api pager")],
    ]);
    const out = rerankCandidates([hit("a", 0.5), hit("b", 0.49), hit("c", 0.45)], mems, {
      ...off,
      mmr: true,
    });
    expect(out.map((h) => h.id)).toEqual(["a", "c", "b"]);
  });

  it("ranks a low-confidence memory below an equally relevant confident one", () => {
    const mems = new Map([
      ["a", memory("a", "x", { confidence: 0.2 })],
      ["b", memory("b", "y", { confidence: 1 })],
    ]);
    const out = rerankCandidates([hit("a", 0.5), hit("b", 0.5)], mems, { ...off, confidence: true });
    expect(out.map((h) => h.id)).toEqual(["b", "a"]);
  });

  it("prefers what the named person said, and leaves a query naming no speaker alone", () => {
    const memories = new Map([
      ["q", memory("q", "Caroline: What got you into running, Melanie?")],
      ["a", memory("a", "Melanie: It has been great for my mental health.")],
      ["c", memory("c", "It has been great, she says.", { context: { speaker: "Melanie" } })],
    ]);
    const head = [hit("q", 0.6), hit("a", 0.4), hit("c", 0.35)];
    const on = { ...off, speakers: new Set(["melanie"]) };
    const out = rerankCandidates(head, memories, on);
    expect(out.map((h) => [h.id, h.score])).toEqual([
      ["a", 0.4],
      ["c", 0.35],
      ["q", 0.3],
    ]);
    const nobody = rerankCandidates(head, memories, { ...off, speakers: new Set(["priya"]) });
    expect(nobody.map((h) => h.id)).toEqual(["q", "a", "c"]);
  });

  it("reads a speaker from the context or a transcript prefix, not from any colon", () => {
    expect(speakerOf(memory("x", "Jon Smith: shipped it"))).toBe("jon smith");
    expect(speakerOf(memory("x", "shipped it", { context: { speaker: " Gina " } }))).toBe("gina");
    expect(speakerOf(memory("x", "deploys: on Tuesdays"))).toBeNull();
    expect(speakerOf(memory("x", "https://example.com: down"))).toBeNull();
  });

  it("ranks a memory that asks below one that tells, in proportion to its questions", () => {
    const memories = new Map([
      ["ask", memory("ask", "James: This pup is so adorable! What's their name?")],
      ["tell", memory("tell", "James: Max and Daisy. They are both rescues.")],
      ["all", memory("all", "What's your favourite movie? Seen any lately?")],
    ]);
    const head = [hit("ask", 0.6), hit("all", 0.55), hit("tell", 0.4)];
    const out = rerankCandidates(head, memories, { ...off, questions: true });
    // "ask" is half questions: 0.6 × (1 − 0.7 × 0.5); "all" keeps 0.3 of its score.
    expect(out.map((h) => [h.id, Number(h.score.toFixed(3))])).toEqual([
      ["tell", 0.4],
      ["ask", 0.39],
      ["all", 0.165],
    ]);
    expect(rerankCandidates(head, memories, off)).toBe(head);
  });

  it("counts the sentences that end with a question mark", () => {
    expect(askedShare("Where is it? It's in Oslo.")).toBe(0.5);
    expect(askedShare("Deploys run on Tuesdays.")).toBe(0);
    expect(askedShare("See https://example.com/?q=1 for the runbook.")).toBe(0);
    expect(askedShare("  ")).toBe(0);
  });
});
