/**
 * The chaos run's checker: after healing and quiescence, compares what every replica holds
 * with what was acknowledged (see run.ts for how the expectation is built).
 */

import { sleep } from "../sync/harness.ts";
import type { ChaosCluster, Reply } from "./cluster.ts";
import type { Expected, Row } from "./model.ts";

export async function listAll(call: (path: string) => Promise<Reply>): Promise<Map<string, Row>> {
  const rows = new Map<string, Row>();
  let cursor: string | null = null;
  for (;;) {
    const q: string = `/v1/memories?limit=500&include_deleted=true&include_superseded=true${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
    const page = await call(q);
    if (page.status !== 200) throw new Error(`list answered ${page.status}`);
    for (const m of page.body.memories as Row[]) {
      if (rows.has(m.id)) throw new Error(`list returned ${m.id} twice`);
      rows.set(m.id, {
        id: m.id,
        content: m.content,
        tags: [...m.tags].sort(),
        deleted: m.deleted,
        supersedes: m.supersedes,
        duplicate_of: m.duplicate_of,
      });
    }
    cursor = page.body.next_cursor;
    if (!cursor) return rows;
  }
}

export async function takeSnapshots(
  cluster: ChaosCluster,
): Promise<{ snapshots: Map<string, Row>[]; names: string[] }> {
  const names = [...cluster.daemons.map((d) => `d${d.index}`), ...cluster.relays.map((r) => `r${r.index}`)];
  const snapshots = await Promise.all([
    ...cluster.daemons.map((d) => listAll((p) => cluster.daemonCall(d.index, "GET", p))),
    ...cluster.relays.map((r) => listAll((p) => cluster.relayCall(r.index, "GET", p))),
  ]);
  return { snapshots, names };
}

export const rowKey = (r: Row) =>
  JSON.stringify([r.content, r.tags, r.deleted, r.supersedes, r.duplicate_of]);

export function sameRows(a: Map<string, Row>, b: Map<string, Row>): boolean {
  if (a.size !== b.size) return false;
  for (const [id, r] of a) {
    const o = b.get(id);
    if (!o || rowKey(o) !== rowKey(r)) return false;
  }
  return true;
}

export function checkConvergence(
  snapshots: Map<string, Row>[],
  names: string[],
  anomaly: (k: string, d: string) => void,
) {
  const ids = new Set(snapshots.flatMap((s) => [...s.keys()]));
  let reported = 0;
  for (const id of ids) {
    const versions = snapshots.map((s) => (s.has(id) ? rowKey(s.get(id) as Row) : "absent"));
    if (new Set(versions).size > 1 && reported++ < 20)
      anomaly("divergence", `${id}: ${versions.map((v, i) => `${names[i]}=${v}`).join(" | ")}`);
  }
}

export function checkExpected(
  rows: Map<string, Row>,
  name: string,
  expected: Map<string, Expected>,
  creations: Map<string, number>,
  ambiguousContent: Set<string>,
  anomaly: (k: string, d: string) => void,
) {
  for (const e of expected.values()) {
    const row = rows.get(e.id);
    if (e.purge === "acked") {
      if (row) anomaly("purged-present", `${name} still holds purged ${e.id}`);
      continue;
    }
    if (!row) {
      if (e.purge === "none")
        anomaly("lost-write", `${name} lacks acknowledged ${e.id} (${e.origin}: ${e.content})`);
      continue;
    }
    if (row.content !== e.content)
      anomaly("content", `${name} ${e.id}: ${JSON.stringify(row.content)} != ${JSON.stringify(e.content)}`);
    const missing = [...e.tags].filter((t) => !row.tags.includes(t));
    if (missing.length)
      anomaly("lost-tag", `${name} ${e.id} lacks acknowledged tags ${missing} (has ${row.tags})`);
    if (row.supersedes !== e.supersedes)
      anomaly("supersedes", `${name} ${e.id}: supersedes ${row.supersedes} != ${e.supersedes}`);
    if (e.forget === "acked" && !row.deleted)
      anomaly("lost-forget", `${name} ${e.id} not deleted after an acked forget`);
    if (e.forget === "none" && row.deleted)
      anomaly("phantom-forget", `${name} ${e.id} deleted but never forgotten`);
  }
  const perContent = new Map<string, number>();
  for (const row of rows.values()) {
    perContent.set(row.content, (perContent.get(row.content) ?? 0) + 1);
    if (!expected.has(row.id) && !ambiguousContent.has(row.content))
      anomaly(
        "unexpected-memory",
        `${name} holds ${row.id} that no write made: ${JSON.stringify(row.content)}`,
      );
  }
  for (const [content, n] of perContent) {
    const allowed = creations.get(content) ?? 0;
    if (n > allowed)
      anomaly(
        "duplicate",
        `${name} holds ${n} memories with content ${JSON.stringify(content)} (${allowed} writes)`,
      );
  }
}

export async function checkPurgedGone(
  cluster: ChaosCluster,
  expected: Map<string, Expected>,
  anomaly: (k: string, d: string) => void,
) {
  const survivors = new Set([...expected.values()].filter((e) => e.purge !== "acked").map((e) => e.content));
  const purged = [...expected.values()].filter((e) => e.purge === "acked");
  for (const e of purged.slice(0, 40)) {
    const token = /tok\S+/.exec(e.content)?.[0] ?? e.content;
    const endpoints: [string, (m: string, p: string, b?: unknown) => Promise<Reply>][] = [
      ...cluster.daemons.map(
        (d) =>
          [`d${d.index}`, (m: string, p: string, b?: unknown) => cluster.daemonCall(d.index, m, p, b)] as [
            string,
            (m: string, p: string, b?: unknown) => Promise<Reply>,
          ],
      ),
      ...cluster.relays.map(
        (r) =>
          [`r${r.index}`, (m: string, p: string, b?: unknown) => cluster.relayCall(r.index, m, p, b)] as [
            string,
            (m: string, p: string, b?: unknown) => Promise<Reply>,
          ],
      ),
    ];
    for (const [name, call] of endpoints) {
      const got = await call("GET", `/v1/memories/${e.id}`);
      if (got.status !== 404) anomaly("purged-readable", `${name} GET purged ${e.id} answered ${got.status}`);
      if (survivors.has(e.content)) continue;
      const recall = await call("POST", "/v1/recall", { query: token, limit: 20, include_superseded: true });
      const hits = ((recall.body?.results ?? []) as { memory: Row }[]).filter((r) =>
        r.memory.content.includes(token),
      );
      if (hits.length) anomaly("purged-recallable", `${name} recall of purged ${e.id} returned its content`);
    }
  }
}

export async function checkRelayLog(cluster: ChaosCluster, anomaly: (k: string, d: string) => void) {
  const hashes = new Set<string>();
  const seqs = new Set<number>();
  let cursor = 0;
  for (;;) {
    const page = await cluster.relayCall(0, "POST", "/v1/sync/pull", { cursor });
    if (page.status !== 200) {
      anomaly("relay-log", `pull answered ${page.status}`);
      return;
    }
    for (const e of page.body.entries as { seq: number; hash?: string; kind: string }[]) {
      if (seqs.has(e.seq)) anomaly("relay-log", `seq ${e.seq} twice`);
      seqs.add(e.seq);
      if (e.hash) {
        if (hashes.has(e.hash)) anomaly("relay-log", `change ${e.hash} logged twice`);
        hashes.add(e.hash);
      }
    }
    cursor = page.body.cursor;
    if (!page.body.more) return;
  }
}

/**
 * After quiescence, the system must still be live, not merely converged once: a write on each
 * daemon reaches every other replica through the relays' live fan-out (no reconnect helps it).
 */
export async function checkLiveFanout(
  cluster: ChaosCluster,
  seed: number,
  anomaly: (k: string, d: string) => void,
) {
  for (const d of cluster.daemons) {
    const r = await cluster.daemonCall(d.index, "POST", "/v1/remember", {
      content: `chaos live probe ${seed} from d${d.index}`,
    });
    const id = r.body?.memory_id as string | undefined;
    if (!id) {
      anomaly("live-fanout", `probe on d${d.index} answered ${r.status}`);
      continue;
    }
    const deadline = Date.now() + 20_000;
    const missing = new Set(cluster.daemons.filter((o) => o.index !== d.index).map((o) => o.index));
    while (missing.size && Date.now() < deadline) {
      for (const o of [...missing]) {
        const got = await cluster.daemonCall(o, "GET", `/v1/memories/${id}`).catch(() => null);
        if (got?.status === 200) missing.delete(o);
      }
      if (missing.size) await sleep(200);
    }
    if (missing.size)
      anomaly(
        "live-fanout",
        `a write on d${d.index} after quiescence did not reach ${[...missing].map((m) => `d${m}`).join(", ")} within 20 s (sockets ${[...missing].map((m) => cluster.daemons[m].proxy.counters.connections)} opened so far)`,
      );
  }
}
