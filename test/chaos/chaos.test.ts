/**
 * Proof under faults, CI size: three daemons in network namespaces, two relay processes on
 * one Postgres, a seeded 2-minute schedule of partitions, proxy faults, SIGKILLs and a
 * Postgres restart under a random write mix; then heal, quiesce and check (run.ts).
 * `pnpm bench chaos --minutes 30` is the long run. CHAOS_SEED reproduces a failure.
 */
import { expect, it } from "vitest";
import { netnsUnavailable } from "./netns.ts";
import { postgresAvailable } from "./postgres.ts";
import { FAULT_KINDS, type FaultKind, formatReport, runChaos } from "./run.ts";

const why = netnsUnavailable() ?? postgresAvailable();
if (why) process.stderr.write(`chaos test skipped: ${why}\n`);

const seed = Number(process.env.CHAOS_SEED ?? 20260501);
const seconds = Number(process.env.CHAOS_SECONDS ?? 120);
// CHAOS_FAULTS=partition,kill-relay,… narrows the schedule (all kinds by default).
const faults: FaultKind[] = process.env.CHAOS_FAULTS
  ? (process.env.CHAOS_FAULTS.split(",") as FaultKind[])
  : [...FAULT_KINDS];

it.skipIf(Boolean(why))(
  `replicas converge with every acknowledged write under faults (seed ${seed})`,
  async () => {
    const report = await runChaos({
      seed,
      durationMs: seconds * 1000,
      faults,
      log: (s) => process.stdout.write(`${s}\n`),
    });
    process.stdout.write(`${formatReport(report)}\n`);
    if (report.anomalies.length) process.stdout.write(`trace:\n${report.trace_tail.join("\n")}\n`);
    expect(report.anomalies).toEqual([]);
  },
  seconds * 1000 + 240_000,
);
