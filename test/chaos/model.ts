/** The chaos run's vocabulary: fault and operation kinds, options, the report, expected rows. */
export const FAULT_KINDS = [
  "partition",
  "link-down",
  "delay",
  "reorder",
  "duplicate",
  "loss",
  "stall",
  "reset",
  "kill-daemon",
  "kill-relay",
  "pg-restart",
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export const OP_KINDS = [
  "remember",
  "relay-remember",
  "correct",
  "forget",
  "tag",
  "import",
  "purge",
  "recall",
] as const;
export type OpKind = (typeof OP_KINDS)[number];

export interface ChaosOptions {
  seed: number;
  durationMs: number;
  daemons?: number;
  relays?: number;
  workers?: number;
  faults?: readonly FaultKind[];
  /** Longest wait for the replicas to agree after healing. */
  quiescenceTimeoutMs?: number;
  log?: (s: string) => void;
}

export interface Anomaly {
  kind: string;
  detail: string;
}

export interface ChaosReport {
  seed: number;
  duration_s: number;
  daemons: number;
  relays: number;
  operations: Record<string, { attempted: number; acked: number; refused: number; ambiguous: number }>;
  faults: Record<string, number>;
  proxy: Record<string, number>;
  memories: { expected_present: number; purged: number; forgotten: number; on_relay: number };
  quiescence_ms: number | null;
  anomalies: Anomaly[];
  /** For each of the first anomalies, its memory's history and the operations just before it. */
  trace_tail: string[];
}

/** mulberry32: small, seedable, good enough to drive a schedule. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type Tri = "none" | "ambiguous" | "acked";
export interface Expected {
  id: string;
  content: string;
  tags: Set<string>;
  supersedes: string | null;
  created: Exclude<Tri, "none">;
  forget: Tri;
  purge: Tri;
  /** A daemon was told to write it: used to pick targets. */
  origin: string;
}

export interface Row {
  id: string;
  content: string;
  tags: string[];
  deleted: boolean;
  supersedes: string | null;
  duplicate_of: string | null;
}

export function formatReport(r: ChaosReport): string {
  const lines = [
    `seed ${r.seed}: ${r.duration_s} s, ${r.daemons} daemons, ${r.relays} relays`,
    `operations: ${Object.entries(r.operations)
      .map(
        ([k, v]) => `${k} ${v.acked}/${v.attempted} acked (${v.refused} refused, ${v.ambiguous} no answer)`,
      )
      .join("; ")}`,
    `faults: ${Object.entries(r.faults)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")}`,
    `proxy: ${Object.entries(r.proxy)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")}`,
    `memories: ${r.memories.expected_present} expected, ${r.memories.purged} purged, ${r.memories.forgotten} forgotten, ${r.memories.on_relay} rows on the relay`,
    `quiescence: ${r.quiescence_ms === null ? "never" : `${r.quiescence_ms} ms`}`,
    `anomalies: ${r.anomalies.length}`,
    ...r.anomalies.slice(0, 30).map((a) => `  ${a.kind}: ${a.detail}`),
  ];
  return lines.join("\n");
}
