/**
 * The first minutes of a cloud user, timed end to end through the relay's API: sign up (a
 * workspace comes with it), create the first API key with the session, start a daemon process
 * with that key, remember on the daemon, and see the memory in the relay's recall. And what the
 * quota check adds to a request (sync-server/src/plans/quota.ts), in microseconds.
 */
import { join } from "node:path";
import type { RelayDatabase } from "@tribalmemory/sync-server";
import { QuotaGuard } from "@tribalmemory/sync-server/plans/quota";
import { setPlan } from "@tribalmemory/sync-server/store/pg-plans";
import { startTestRelay } from "@tribalmemory/sync-server/testing";
import { AccountClient } from "../helpers/account-client.ts";
import { api, type DaemonProcess, startDaemonProcess, tempDir, waitFor } from "../sync/harness.ts";
import { summarize } from "./_report.ts";

const round = (x: number) => Math.round(x * 10) / 10;

export async function onboarding(db: RelayDatabase, runs: number, log: (s: string) => void) {
  const relay = await startTestRelay(db);
  const dir = tempDir("tm-bench-cloud-");
  const rows: Record<string, number>[] = [];
  try {
    for (let run = 0; run < runs; run++) {
      const steps: Record<string, number> = {};
      let t = performance.now();
      const lap = (name: string) => {
        const now = performance.now();
        steps[name] = round(now - t);
        t = now;
      };
      const start = t;
      const client = new AccountClient(relay.url);
      const signup = await client.signup(`bench-${run}-${Date.now()}@example.com`);
      lap("signup_ms");
      const workspace = signup.workspace?.id as string;
      const key = await client.call<{ key: string }>("POST", `/v1/workspaces/${workspace}/keys`, {
        name: "laptop",
        scopes: ["read", "write"],
      });
      if (key.status !== 201) throw new Error(`key: ${key.status} ${JSON.stringify(key.body)}`);
      lap("first_key_ms");
      let daemon: DaemonProcess | null = null;
      try {
        daemon = await startDaemonProcess({
          home: join(dir.path, `d${run}`),
          relayUrl: relay.url,
          apiKey: key.body.key,
          instance: `bench@laptop${run}`,
        });
        const d = daemon;
        await waitFor(
          "daemon live",
          async () => (await d.call<{ state: string }>("GET", "/v1/sync/status")).body.state === "live",
          30_000,
          5,
        );
        lap("daemon_start_and_live_ms");
        const token = `onboard${run}z${Math.random().toString(36).slice(2, 8)}`;
        await d.call("POST", "/v1/remember", { content: `The deploy checklist lives in ${token}` });
        await waitFor(
          "memory at the relay",
          async () => {
            const r = await api<{ results: unknown[] }>(
              relay.url,
              "POST",
              "/v1/recall",
              { query: token, limit: 1 },
              key.body.key,
            );
            return r.body.results.length > 0;
          },
          15_000,
          2,
        );
        lap("remember_to_relay_recall_ms");
        steps.total_ms = round(performance.now() - start);
        rows.push(steps);
        log(`  run ${run + 1}/${runs}: ${JSON.stringify(steps)}`);
      } finally {
        await daemon?.kill();
      }
    }
  } finally {
    await relay.close();
    dir.remove();
  }
  const keys = Object.keys(rows[0] ?? {});
  return Object.fromEntries(keys.map((k) => [k, summarize(rows.map((r) => r[k]))]));
}

/** The quota check of one request, as the HTTP hook and the ingest path call it, in µs. */
export async function quotaCheckCost(
  db: RelayDatabase,
  workspaceIds: { free: string; pro: string },
  calls: number,
) {
  await setPlan(db, workspaceIds.pro, { plan: "pro", source: "admin" });
  const guard = new QuotaGuard({ db });
  const time = async (fn: () => Promise<void>) => {
    const us: number[] = [];
    for (let i = 0; i < calls + 20; i++) {
      const t = performance.now();
      await fn();
      if (i >= 20) us.push((performance.now() - t) * 1000);
    }
    return summarize(us);
  };
  return {
    recall_on_free_us: await time(() => guard.checkQuery(workspaceIds.free)),
    recall_on_pro_cached_us: await time(() => guard.checkQuery(workspaceIds.pro)),
    known_agent_us: await time(() => guard.admitAgent(workspaceIds.free, "bench@laptop", "instance")),
  };
}
