/**
 * What every engine of `pnpm bench peers` implements: build an index from the same documents
 * (text + the same precomputed vector), open it, answer a query given its text and its
 * precomputed vector (so the query embedding is never in the latency), close.
 */
import { readFileSync } from "node:fs";

export interface PeerDoc {
  id: string;
  text: string;
  vector: Float32Array;
  /** When it was said (LoCoMo: its session's date); engines without time ignore it. */
  createdAt: string;
  /** Who wrote it (LoCoMo: the conversation), for engines that keep a writer. */
  source: string;
}

export interface PeerQuery {
  text: string;
  vector: Float32Array;
}

export interface BuildInfo {
  dims: number;
  /** The vectors' model id (the daemon stores it beside each vector). */
  modelId: string;
  /** Documents in this index. */
  count: number;
}

export interface PeerIndex {
  /** Ids of the top `k` memories, best first. */
  search(q: PeerQuery, k: number): Promise<string[]>;
  /** Vector-only top `k` through the engine's vector index, to score its ANN recall against exact. */
  vectorOnly?(vector: Float32Array, k: number): Promise<string[]>;
  /** Where one query's time goes (ms per part), for the engine whose latency needs explaining. */
  profile?(q: PeerQuery): Promise<Record<string, number>>;
  /** The process whose RSS is this engine's, when it is not the benchmark's own (a server). */
  pid?: number;
  close(): Promise<void>;
}

export interface PeerEngine {
  /** Short name, as `--engines` takes it. */
  name: string;
  /** What the table prints: how it searches. */
  label: string;
  /** Whether it searches by vector at all (the MCP reference server does not). */
  vectors: boolean;
  /**
   * Built in a separate process from the one that queries, so the query process's RSS holds the
   * engine's index and not the corpus it was built from. False for in-memory engines (Orama):
   * they build in the query process, from the corpus streamed in batches.
   */
  onDisk: boolean;
  /** Why it does not run at this size (`null`: it does). */
  skip?(size: number | "locomo"): string | null;
  build(dir: string, batches: Iterable<PeerDoc[]>, info: BuildInfo): Promise<void>;
  open(dir: string, info: BuildInfo): Promise<PeerIndex>;
}

/** Reciprocal rank fusion of ranked id lists (k = 60, the usual constant). */
export function reciprocalRankFusion(lists: string[][], k = 60): string[] {
  const score = new Map<string, number>();
  for (const list of lists)
    for (const [rank, id] of list.entries()) score.set(id, (score.get(id) ?? 0) + 1 / (k + rank + 1));
  return [...score.entries()].sort((a, b) => b[1] - a[1]).map(([id]) => id);
}

/** Resident set of a process, MiB (Linux /proc). */
export function rssMiB(pid: number = process.pid): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return Math.round(kb / 1024);
}
