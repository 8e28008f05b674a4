/**
 * Proof under faults: a seeded mix of writes against random daemons (and the relay's API)
 * while a seeded schedule injects faults; then every fault is healed, the run waits for
 * quiescence, and a checker compares what every replica holds with what was acknowledged.
 *
 * The expected state is built only from acknowledged operations. A request that got no
 * answer (a daemon killed mid-request, a link cut) is *ambiguous*: it may or may not have
 * happened, so it widens what is allowed, but the replicas must still agree with each other.
 * Content never changes in place (no API edits it), so the expectation does not depend on
 * how concurrent content edits resolve; tags only grow (they merge); forget and purge are
 * monotonic; purge wins over everything.
 */
import { newMemoryId } from "@tribalmemory/shared/memory/ids";
import { sleep } from "../sync/harness.ts";
import {
  checkConvergence,
  checkExpected,
  checkLiveFanout,
  checkPurgedGone,
  checkRelayLog,
  sameRows,
  takeSnapshots,
} from "./checker.ts";
import { NoAnswer, type Reply, startChaosCluster } from "./cluster.ts";
import {
  type Anomaly,
  type ChaosOptions,
  type ChaosReport,
  type Expected,
  FAULT_KINDS,
  OP_KINDS,
  type OpKind,
  prng,
  type Row,
} from "./model.ts";

export {
  type ChaosOptions,
  type ChaosReport,
  FAULT_KINDS,
  type FaultKind,
  formatReport,
  OP_KINDS,
  type OpKind,
} from "./model.ts";

const TAGS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"];
const WORDS = [
  "relay",
  "daemon",
  "cursor",
  "seq",
  "vector",
  "outbox",
  "tombstone",
  "actor",
  "batch",
  "socket",
];

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const log = options.log ?? ((s: string) => process.stdout.write(`${s}\n`));
  const nDaemons = options.daemons ?? 3;
  const nRelays = options.relays ?? 2;
  const enabled = options.faults ?? FAULT_KINDS;
  const opRnd = prng(options.seed);
  const faultRnd = prng(options.seed ^ 0x5eed);
  const proxyRnd = prng(options.seed ^ 0xfa17);
  const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  log(
    `chaos seed ${options.seed} (reproduce: CHAOS_SEED=${options.seed}), ${Math.round(options.durationMs / 1000)} s, faults: ${enabled.join(", ")}`,
  );

  const cluster = await startChaosCluster({ daemons: nDaemons, relays: nRelays, random: proxyRnd, log });
  const anomalies: Anomaly[] = [];
  // The whole run's trace (a 30-minute run writes a few MB): an anomaly's memory may have been
  // written long before it shows, and its history is what reproduces it.
  const trace: string[] = [];
  const note = (s: string) => trace.push(`${new Date().toISOString().slice(11, 23)} ${s}`);
  /** Where in the trace each anomaly was noted, and the memory it concerns. */
  const anomalyAt: { line: number; subject: string | null }[] = [];
  const anomaly = (kind: string, detail: string) => {
    if (anomalies.length < 200) anomalies.push({ kind, detail });
    note(`ANOMALY ${kind}: ${detail}`);
    anomalyAt.push({ line: trace.length, subject: /[0-9a-f]{8}-[0-9a-f-]{27}/.exec(detail)?.[0] ?? null });
  };
  /** Purges sent to a relay and not answered yet, by memory: each settles once its outcome is recorded. */
  const purgesInFlight = new Map<string, Promise<void>>();
  const ops: ChaosReport["operations"] = {};
  for (const k of OP_KINDS) ops[k] = { attempted: 0, acked: 0, refused: 0, ambiguous: 0 };
  const faults: Record<string, number> = {};
  for (const k of enabled) faults[k] = 0;

  const expected = new Map<string, Expected>();
  /** Content → how many memories may hold it (acked or ambiguous creations). */
  const creations = new Map<string, number>();
  const ambiguousContent = new Set<string>();
  const create = (content: string) => creations.set(content, (creations.get(content) ?? 0) + 1);
  /** A write that got no answer may or may not have made its memory. */
  const maybeCreated = (outcome: string, content: string) => {
    if (outcome !== "ambiguous") return;
    ambiguousContent.add(content);
    create(content);
  };
  /** An acknowledged write made this memory. */
  const created = (
    id: string,
    content: string,
    tags: string[],
    supersedes: string | null,
    origin: string,
  ) => {
    create(content);
    expected.set(id, {
      id,
      content,
      tags: new Set(tags),
      supersedes,
      created: "acked",
      forget: "none",
      purge: "none",
      origin,
    });
  };
  let counter = 0;
  const newContent = (kind: string) => {
    const n = counter++;
    return `chaos ${kind} tok${options.seed}q${n}z ${pick(opRnd, WORDS)} ${pick(opRnd, WORDS)} number ${n}`;
  };
  const someTags = () => TAGS.filter(() => opRnd() < 0.25);
  const live = () => [...expected.values()].filter((e) => e.purge !== "acked");

  /** Run one request and classify it. 5xx from a daemon is an anomaly: it depends on nothing. */
  const attempt = async (
    kind: OpKind,
    target: string,
    fn: () => Promise<Reply>,
  ): Promise<{ outcome: "acked" | "refused" | "ambiguous"; reply?: Reply }> => {
    ops[kind].attempted++;
    let reply: Reply;
    try {
      reply = await fn();
    } catch (err) {
      if (!(err instanceof NoAnswer)) throw err;
      ops[kind].ambiguous++;
      note(`${kind} ${target}: no answer`);
      return { outcome: "ambiguous" };
    }
    if (reply.status >= 200 && reply.status < 300) {
      ops[kind].acked++;
      return { outcome: "acked", reply };
    }
    if (reply.status >= 500) {
      if (target.startsWith("d"))
        anomaly("daemon-5xx", `${kind} on ${target}: ${reply.status} ${JSON.stringify(reply.body)}`);
      ops[kind].ambiguous++;
      return { outcome: "ambiguous", reply };
    }
    if (!reply.body?.error?.code)
      anomaly("4xx-without-code", `${kind} on ${target}: ${reply.status} ${JSON.stringify(reply.body)}`);
    ops[kind].refused++;
    return { outcome: "refused", reply };
  };

  /** Each daemon reads its own acknowledged write at once. */
  const readOwnWrite = async (d: number, id: string, check: (row: Row) => string | null) => {
    let r: Reply<Row>;
    try {
      r = await cluster.daemonCall<Row>(d, "GET", `/v1/memories/${id}`);
    } catch {
      return; // the daemon was killed right after its ack: nothing to read
    }
    // A purge may land in between: one acknowledged or unanswered, or one still in flight (the
    // relay sends it to the daemons as it commits, which can be before its answer gets here).
    if (r.status === 404) await purgesInFlight.get(id);
    const e = expected.get(id);
    if (e && e.purge !== "none") return;
    if (r.status !== 200) {
      // Whether the write is missing for good or only for a moment tells the two bugs apart.
      await sleep(500);
      const again = await cluster.daemonCall(d, "GET", `/v1/memories/${id}`).then(
        (a) => String(a.status),
        (err: Error) => err.message,
      );
      anomaly(
        "read-own-write",
        `d${d} acked ${id} but GET answered ${r.status} ${JSON.stringify(r.body)} (0.5 s later: ${again})`,
      );
      return;
    }
    const problem = check(r.body);
    if (problem) anomaly("read-own-write", `d${d} ${id}: ${problem}`);
  };

  const operation = async () => {
    const roll = opRnd();
    const d = Math.floor(opRnd() * nDaemons);
    const dn = `d${d}`;
    const targets = live();
    if (roll < 0.3 || targets.length < 5) {
      const content = newContent("remember");
      const tags = someTags();
      note(`remember on ${dn}: ${content}`);
      const { outcome, reply } = await attempt("remember", dn, () =>
        cluster.daemonCall(d, "POST", "/v1/remember", { content, tags, source_type: "user_explicit" }),
      );
      maybeCreated(outcome, content);
      if (outcome !== "acked" || !reply) return;
      const id = reply.body.memory_id as string;
      note(`  -> ${id} ${reply.status}`);
      const existing = expected.get(id);
      if (reply.status === 200 && existing) {
        // Deduplicated into an existing memory (near-identical text): a tag merge, not a new memory.
        for (const t of tags) existing.tags.add(t);
        return;
      }
      created(id, content, tags, null, dn);
      await readOwnWrite(d, id, (row) =>
        row.content !== content
          ? `content ${JSON.stringify(row.content)}`
          : tags.some((t) => !row.tags.includes(t))
            ? `tags ${row.tags}`
            : null,
      );
    } else if (roll < 0.36) {
      const r = pick(opRnd, cluster.liveRelays().length ? cluster.liveRelays() : [0]);
      const content = newContent("relay");
      const tags = someTags();
      note(`remember on r${r}: ${content}`);
      const { outcome, reply } = await attempt("relay-remember", `r${r}`, () =>
        cluster.relayCall(r, "POST", "/v1/remember", { content, tags }),
      );
      maybeCreated(outcome, content);
      if (outcome !== "acked" || !reply) return;
      const id = reply.body.memory_id as string;
      created(id, content, tags, null, `r${r}`);
    } else if (roll < 0.5) {
      const target = pick(opRnd, targets);
      const content = newContent("correct");
      const tags = someTags();
      note(`correct ${target.id} on ${dn}: ${content}`);
      const { outcome, reply } = await attempt("correct", dn, () =>
        cluster.daemonCall(d, "POST", "/v1/correct", {
          original_id: target.id,
          corrected_content: content,
          tags,
        }),
      );
      maybeCreated(outcome, content);
      if (outcome !== "acked" || !reply) return;
      const id = reply.body.memory_id as string;
      created(id, content, tags, target.id, dn);
      await readOwnWrite(d, id, (row) =>
        row.content !== content
          ? `content ${JSON.stringify(row.content)}`
          : row.supersedes !== target.id
            ? `supersedes ${row.supersedes}`
            : null,
      );
    } else if (roll < 0.6) {
      const target = pick(opRnd, targets);
      note(`forget ${target.id} on ${dn}`);
      const { outcome } = await attempt("forget", dn, () =>
        cluster.daemonCall(d, "POST", "/v1/forget", { memory_id: target.id }),
      );
      if (outcome === "ambiguous" && target.forget === "none") target.forget = "ambiguous";
      if (outcome !== "acked") return;
      target.forget = "acked";
      await readOwnWrite(d, target.id, (row) => (row.deleted ? null : "not deleted after an acked forget"));
    } else if (roll < 0.72) {
      // A tag edit: remembering the same content again merges tags into the existing memory
      // (dedup); where this daemon has it deleted or not yet, a new memory is made instead.
      const target = pick(opRnd, targets);
      const tag = pick(opRnd, TAGS);
      note(`tag +${tag} ${target.id} on ${dn}`);
      const { outcome, reply } = await attempt("tag", dn, () =>
        cluster.daemonCall(d, "POST", "/v1/remember", {
          content: target.content,
          tags: [tag],
          source_type: "user_explicit",
        }),
      );
      if (outcome === "ambiguous") {
        ambiguousContent.add(target.content);
        create(target.content);
      }
      if (outcome !== "acked" || !reply) return;
      const id = reply.body.memory_id as string;
      const e = expected.get(id);
      if (reply.status === 201 || !e) {
        create(target.content);
        expected.set(id, {
          id,
          content: target.content,
          tags: new Set([tag]),
          supersedes: null,
          created: "acked",
          forget: "none",
          purge: "none",
          origin: dn,
        });
      } else {
        e.tags.add(tag);
      }
      await readOwnWrite(d, id, (row) => (row.tags.includes(tag) ? null : `tag ${tag} missing: ${row.tags}`));
    } else if (roll < 0.78) {
      const entries = Array.from({ length: 1 + Math.floor(opRnd() * 4) }, () => ({
        id: newMemoryId(),
        content: newContent("import"),
        tags: someTags(),
        source_type: "import",
      }));
      const body = `${JSON.stringify({ manifest: { schema_version: "1.0" } })}\n${entries.map((e) => JSON.stringify(e)).join("\n")}\n`;
      note(`import ${entries.length} on ${dn}: ${entries.map((e) => e.id).join(",")}`);
      const { outcome, reply } = await attempt("import", dn, () =>
        cluster.daemonCall(d, "POST", "/v1/import", body, "application/x-ndjson"),
      );
      if (outcome === "ambiguous") {
        for (const e of entries) {
          ambiguousContent.add(e.content);
          create(e.content);
        }
      }
      if (outcome !== "acked" || !reply) return;
      if (reply.body.imported !== entries.length) {
        anomaly(
          "import",
          `d${d} imported ${reply.body.imported} of ${entries.length}: ${JSON.stringify(reply.body)}`,
        );
        return;
      }
      for (const e of entries) {
        create(e.content);
        expected.set(e.id, {
          id: e.id,
          content: e.content,
          tags: new Set(e.tags),
          supersedes: null,
          created: "acked",
          forget: "none",
          purge: "none",
          origin: dn,
        });
      }
      await readOwnWrite(d, entries[0].id, (row) =>
        row.content === entries[0].content ? null : "imported content differs",
      );
    } else if (roll < 0.82) {
      const target = pick(opRnd, targets);
      const relaysUp = cluster.liveRelays();
      if (!relaysUp.length) return;
      const r = pick(opRnd, relaysUp);
      note(`purge ${target.id} on r${r}`);
      const settled = attempt("purge", `r${r}`, () =>
        cluster.relayCall(r, "DELETE", `/v1/memories/${target.id}?purge=true`),
      ).then(({ outcome }) => {
        if (outcome === "ambiguous" && target.purge === "none") target.purge = "ambiguous";
        if (outcome === "acked") target.purge = "acked";
      });
      purgesInFlight.set(target.id, settled);
      await settled;
      if (purgesInFlight.get(target.id) === settled) purgesInFlight.delete(target.id);
    } else {
      const target = pick(opRnd, targets);
      const token = /tok\S+/.exec(target.content)?.[0] ?? "chaos";
      await attempt("recall", dn, () =>
        cluster.daemonCall(d, "POST", "/v1/recall", { query: `${token} ${pick(opRnd, WORDS)}` }),
      );
    }
  };

  // ---------------------------------------------------------------- faults
  const healers = new Set<Promise<void>>();
  let processFault = false;
  const injectFault = async () => {
    const kind = pick(faultRnd, enabled);
    const d = Math.floor(faultRnd() * nDaemons);
    const hold = 1500 + faultRnd() * 5000;
    const later = (fn: () => Promise<void> | void) => {
      const p = sleep(hold)
        .then(fn)
        .catch((err) => anomaly("harness", `healing ${kind}: ${(err as Error).message}`))
        .finally(() => healers.delete(p));
      healers.add(p);
    };
    const proxy = cluster.daemons[d].proxy;
    switch (kind) {
      case "partition":
        cluster.net.partition(d, proxy.port);
        later(() => cluster.net.heal(d));
        break;
      case "link-down":
        cluster.net.linkDown(d);
        later(() => cluster.net.heal(d));
        break;
      case "delay":
        proxy.set({ delayMs: [10, 50 + faultRnd() * 600] });
        later(() => proxy.set({ delayMs: null }));
        break;
      case "reorder":
        proxy.set({ reorder: 0.3 });
        later(() => proxy.set({ reorder: 0 }));
        break;
      case "duplicate":
        proxy.set({ duplicate: 0.3 });
        later(() => proxy.set({ duplicate: 0 }));
        break;
      case "loss":
        proxy.set({ loss: 0.15 });
        later(() => proxy.set({ loss: 0 }));
        break;
      case "stall":
        proxy.set({ stall: true });
        later(() => proxy.set({ stall: false }));
        break;
      case "reset":
        proxy.resetAll();
        break;
      case "kill-daemon":
      case "kill-relay":
      case "pg-restart":
        // One process down at a time keeps restarts (which wait for health) bounded.
        if (processFault) return;
        processFault = true;
        if (kind === "kill-daemon") {
          await cluster.killDaemon(d);
          later(async () => {
            await cluster.startDaemon(d);
            processFault = false;
          });
        } else if (kind === "kill-relay") {
          const r = Math.floor(faultRnd() * nRelays);
          await cluster.killRelay(r);
          later(async () => {
            await cluster.startRelay(r);
            processFault = false;
          });
        } else {
          await cluster.pg.restart(faultRnd() < 0.5 ? "fast" : "immediate");
          processFault = false;
        }
        break;
    }
    faults[kind]++;
    note(`fault ${kind}${kind.startsWith("kill-relay") || kind === "pg-restart" ? "" : ` on d${d}`}`);
  };

  const started = Date.now();
  const end = started + options.durationMs;
  let quiescenceMs: number | null = null;
  let onRelay = 0;
  try {
    const workers = Array.from({ length: options.workers ?? 3 }, async () => {
      while (Date.now() < end) {
        await operation();
        await sleep(10 + opRnd() * 60);
      }
    });
    const faulter = (async () => {
      await sleep(2000);
      while (Date.now() < end - 3000) {
        await injectFault();
        await sleep(800 + faultRnd() * 2500);
      }
    })();
    await Promise.all([...workers, faulter]);
    log(`workload done in ${Math.round((Date.now() - started) / 1000)} s; healing`);

    // ---------------------------------------------------------------- heal + quiesce
    while (healers.size) await Promise.all([...healers]);
    for (const dp of cluster.daemons) dp.proxy.heal();
    for (let i = 0; i < nDaemons; i++) cluster.net.heal(i);
    for (const r of cluster.relays)
      if (!r.proc || r.proc.proc.exitCode !== null) await cluster.startRelay(r.index);
    for (const dp of cluster.daemons)
      if (!dp.proc || dp.proc.exitCode !== null) await cluster.startDaemon(dp.index);

    const healedAt = Date.now();
    const timeout = options.quiescenceTimeoutMs ?? 120_000;
    let snapshots: Map<string, Row>[] = [];
    let names: string[] = [];
    let stable = 0;
    for (;;) {
      const statuses = await Promise.all(
        cluster.daemons.map((_, i) =>
          cluster
            .daemonCall<{ state: string; outbox: number }>(i, "GET", "/v1/sync/status")
            .catch(() => null),
        ),
      );
      const idle = statuses.every((s) => s?.body.state === "live" && s.body.outbox === 0);
      try {
        ({ snapshots, names } = await takeSnapshots(cluster));
      } catch (err) {
        note(`snapshot failed: ${(err as Error).message}`);
        snapshots = [];
      }
      const agree = snapshots.length > 0 && snapshots.every((s) => sameRows(s, snapshots[0]));
      stable = idle && agree ? stable + 1 : 0;
      if (stable >= 2) {
        quiescenceMs = Date.now() - healedAt;
        break;
      }
      if (Date.now() - healedAt > timeout) {
        anomaly(
          "no-quiescence",
          `replicas still differ ${Math.round(timeout / 1000)} s after healing: ${statuses.map((s, i) => `d${i}=${s?.body.state}/${s?.body.outbox}`).join(" ")}`,
        );
        break;
      }
      await sleep(1000);
    }
    log(quiescenceMs === null ? "no quiescence" : `quiescent ${quiescenceMs} ms after healing`);
    if (!snapshots.length) ({ snapshots, names } = await takeSnapshots(cluster));
    onRelay = snapshots[snapshots.length - 1].size;

    // ---------------------------------------------------------------- checks
    checkConvergence(snapshots, names, anomaly);
    for (let s = 0; s < snapshots.length; s++)
      checkExpected(snapshots[s], names[s], expected, creations, ambiguousContent, anomaly);
    await checkPurgedGone(cluster, expected, anomaly);
    await checkRelayLog(cluster, anomaly);
    await checkLiveFanout(cluster, options.seed, anomaly);
  } finally {
    while (healers.size) await Promise.all([...healers]).catch(() => undefined);
    if (anomalies.length) {
      for (let i = 0; i < nDaemons; i++) {
        const tail = cluster.daemons[i].log.slice(-1500);
        if (tail) log(`--- d${i} log tail ---\n${tail}`);
      }
    }
    await cluster.destroy();
  }
  const proxy: Record<string, number> = {};
  for (const dp of cluster.daemons)
    for (const [k, v] of Object.entries(dp.proxy.counters)) proxy[k] = (proxy[k] ?? 0) + v;
  const values = [...expected.values()];
  return {
    seed: options.seed,
    duration_s: Math.round((Date.now() - started) / 1000),
    daemons: nDaemons,
    relays: nRelays,
    operations: ops,
    faults,
    proxy,
    memories: {
      expected_present: values.filter((e) => e.purge === "none").length,
      purged: values.filter((e) => e.purge === "acked").length,
      forgotten: values.filter((e) => e.forget === "acked").length,
      on_relay: onRelay,
    },
    quiescence_ms: quiescenceMs,
    anomalies,
    trace_tail: anomalyTraces(trace, anomalyAt),
  };
}

/**
 * For each of the first anomalies: every line of the run about its memory, then the lines just
 * before it was noted.
 */
function anomalyTraces(trace: string[], at: { line: number; subject: string | null }[]): string[] {
  return at
    .slice(0, 5)
    .flatMap(({ line, subject }, i) => [
      `--- anomaly ${i + 1}${subject ? `: lines about ${subject}` : ""}`,
      ...(subject ? trace.slice(0, line).filter((l) => l.includes(subject)) : []),
      `--- anomaly ${i + 1}: the run before it`,
      ...trace.slice(Math.max(0, line - 40), line),
    ]);
}

export { startChaosCluster };
