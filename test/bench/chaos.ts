/**
 * `pnpm bench chaos [--minutes 30] [--seed N] [--faults partition,kill-relay,…] [--daemons 3] [--relays 2]`
 *
 * The long run of the fault harness (test/chaos/run.ts): a seeded write mix against three
 * daemons in network namespaces and two relay processes on one Postgres, under partitions,
 * proxy faults (delay, loss, duplication, reordering, stalls, resets), SIGKILLs and Postgres
 * restarts; then heal, quiesce and check. Prints operations, faults by kind and anomalies and
 * writes bench-results/chaos.json. Needs root (ip netns, nft). Never fails for being slow;
 * exits 1 when an anomaly was found.
 */
import { netnsUnavailable } from "../chaos/netns.ts";
import { postgresAvailable } from "../chaos/postgres.ts";
import { FAULT_KINDS, type FaultKind, formatReport, runChaos } from "../chaos/run.ts";
import { writeReport } from "./_report.ts";

const args = process.argv.slice(2);
const flag = (name: string, fallback?: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const why = netnsUnavailable() ?? postgresAvailable();
if (why) {
  process.stderr.write(`chaos bench needs: ${why}\n`);
  process.exit(2);
}
const seed = Number(flag("seed", process.env.CHAOS_SEED ?? String(Math.floor(Math.random() * 2 ** 31))));
const minutes = Number(flag("minutes", "30"));
const faults = (flag("faults")?.split(",") ?? [...FAULT_KINDS]) as FaultKind[];
for (const f of faults)
  if (!FAULT_KINDS.includes(f)) throw new Error(`unknown fault ${f}; known: ${FAULT_KINDS.join(", ")}`);
const report = await runChaos({
  seed,
  durationMs: minutes * 60_000,
  daemons: Number(flag("daemons", "3")),
  relays: Number(flag("relays", "2")),
  faults,
  quiescenceTimeoutMs: 180_000,
});
process.stdout.write(`${formatReport(report)}\n`);
writeReport("chaos", report);
process.exitCode = report.anomalies.length ? 1 : 0;
