/**
 * `pnpm bench load [--connections 1000] [--seconds 30] [--soak-minutes 1] [--soak-connections 100] [--timeout-s 30]`
 *
 * Load on both APIs with autocannon: N concurrent connections, each alternating remember (a
 * fresh text) and recall, against a daemon (`tribalmemoryd`, loopback) and against a relay
 * (Bearer key; Postgres when TEST_APP_DATABASE_URL is set, else PGlite). Prints p50/p99,
 * requests/s and every non-2xx by status; then a soak of both at a lower concurrency with RSS
 * of the daemon and the relay sampled every second, to show it flat (first, last, max, and
 * the slope over the second half). Writes bench-results/load.json. Never fails for being slow.
 */
import { readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import autocannon from "autocannon";
import { spawnDaemon } from "../helpers/daemon.ts";
import {
  api,
  freePort,
  type RelayProcess,
  relayDb,
  relayInit,
  relayPlan,
  sleep,
  startRelayProcess,
  tempDir,
} from "../sync/harness.ts";
import { writeReport } from "./_report.ts";

const args = process.argv.slice(2);
const flag = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? (args[i + 1] ?? fallback) : fallback;
};
const CONNECTIONS = Number(flag("connections", "1000"));
const SECONDS = Number(flag("seconds", "30"));
const SOAK_MINUTES = Number(flag("soak-minutes", "1"));
const SOAK_CONNECTIONS = Number(flag("soak-connections", "100"));
/** How long a client waits for an answer before it counts a timeout (printed with the figures). */
const TIMEOUT_S = Number(flag("timeout-s", "30"));
const log = (s: string) => process.stdout.write(`${s}\n`);

const rssMb = (pid: number | undefined): number | null => {
  if (!pid) return null;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Math.round(Number(m[1]) / 1024) : null;
  } catch {
    return null;
  }
};

const WORDS =
  "relay daemon cursor vector outbox tombstone actor batch socket kernel paris alice berlin deploy".split(
    " ",
  );
let counter = 0;
const text = () => {
  const n = counter++;
  return `load test note ${n}: ${WORDS[n % WORDS.length]} ${WORDS[(n * 7) % WORDS.length]} ${WORDS[(n * 3) % WORDS.length]} at step ${n}`;
};

interface Phase {
  target: string;
  connections: number;
  seconds: number;
  requests: number;
  rps: number;
  latency_ms: { p50: number; p90: number; p99: number; max: number };
  non2xx: number;
  errors: number;
  timeouts: number;
  status: Record<string, number>;
}

async function hammer(
  target: string,
  url: string,
  headers: Record<string, string>,
  connections: number,
  seconds: number,
): Promise<Phase> {
  const json = { "content-type": "application/json", ...headers };
  const result = await autocannon({
    url,
    connections,
    duration: seconds,
    timeout: TIMEOUT_S,
    requests: [
      {
        method: "POST",
        path: "/v1/remember",
        headers: json,
        setupRequest: (req) => ({ ...req, body: JSON.stringify({ content: text(), tags: ["load"] }) }),
      },
      {
        method: "POST",
        path: "/v1/recall",
        headers: json,
        setupRequest: (req) => ({
          ...req,
          body: JSON.stringify({ query: `${WORDS[counter % WORDS.length]} step`, limit: 5 }),
        }),
      },
    ],
  });
  const status: Record<string, number> = {};
  for (const [code, s] of Object.entries(result.statusCodeStats ?? {}))
    status[code] = (s as { count: number }).count;
  const phase: Phase = {
    target,
    connections,
    seconds,
    requests: result.requests.total,
    rps: Math.round(result.requests.average),
    latency_ms: {
      p50: result.latency.p50,
      p90: result.latency.p90,
      p99: result.latency.p99,
      max: result.latency.max,
    },
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    status,
  };
  log(
    `${target}: ${connections} connections, ${seconds} s, client timeout ${TIMEOUT_S} s: ${phase.requests} requests (${phase.rps}/s), p50 ${phase.latency_ms.p50} ms, p99 ${phase.latency_ms.p99} ms, max ${phase.latency_ms.max} ms; non-2xx ${phase.non2xx}, errors ${phase.errors}, timeouts ${phase.timeouts}; status ${JSON.stringify(status)}`,
  );
  return phase;
}

function rssSummary(samples: (number | null)[]) {
  const xs = samples.filter((x): x is number => x !== null);
  if (!xs.length) return null;
  const half = xs.slice(Math.floor(xs.length / 2));
  // Least-squares slope over the second half, MB per minute (samples are 1 s apart).
  const n = half.length;
  const mx = (n - 1) / 2;
  const my = half.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  half.forEach((y, i) => {
    num += (i - mx) * (y - my);
    den += (i - mx) ** 2;
  });
  return {
    first: xs[0],
    last: xs[xs.length - 1],
    max: Math.max(...xs),
    slope_mb_per_min_second_half: den ? Math.round((num / den) * 60 * 10) / 10 : 0,
  };
}

const dir = tempDir("tm-load-");
let relay: RelayProcess | null = null;
let daemon: Awaited<ReturnType<typeof spawnDaemon>> | null = null;
try {
  const db = relayDb(join(dir.path, "relay"));
  const { apiKey, workspaceId } = await relayInit(db);
  // Throughput, not the Free plan's 1,000 memories: the workspace gets no limits.
  await relayPlan(db, workspaceId, "enterprise");
  relay = await startRelayProcess(db, await freePort());
  // A standalone daemon (no sync): each side is measured under its own load only.
  daemon = await spawnDaemon(join(dir.path, "d"));
  log(
    `relay ${relay.url} (${process.env.TEST_APP_DATABASE_URL ? "Postgres" : "PGlite"}), daemon ${daemon.url}; load average (1/5/15 min) ${loadavg()
      .map((x) => x.toFixed(1))
      .join(" ")}`,
  );
  // Something to recall from the start.
  await api(daemon.url, "POST", "/v1/remember/batch", {
    memories: Array.from({ length: 200 }, () => ({ content: text() })),
  });
  await api(
    relay.url,
    "POST",
    "/v1/remember/batch",
    { memories: Array.from({ length: 200 }, () => ({ content: text() })) },
    apiKey,
  );

  const relayHeaders = { authorization: `Bearer ${apiKey}` };
  const phases: Phase[] = [];
  phases.push(await hammer("daemon", daemon.url, {}, CONNECTIONS, SECONDS));
  phases.push(await hammer("relay", relay.url, relayHeaders, CONNECTIONS, SECONDS));

  // Soak: both at once at a lower concurrency, RSS every second.
  const rss = { daemon: [] as (number | null)[], relay: [] as (number | null)[] };
  let soaking = SOAK_MINUTES > 0;
  const sampler = (async () => {
    while (soaking) {
      rss.daemon.push(rssMb(daemon?.child.pid));
      rss.relay.push(rssMb(relay?.proc.pid));
      await sleep(1000);
    }
  })();
  const soakSeconds = Math.round(SOAK_MINUTES * 60);
  const soak = soakSeconds
    ? await Promise.all([
        hammer("daemon soak", daemon.url, {}, SOAK_CONNECTIONS, soakSeconds),
        hammer("relay soak", relay.url, relayHeaders, SOAK_CONNECTIONS, soakSeconds),
      ])
    : [];
  soaking = false;
  await sampler;
  const rssReport = { daemon: rssSummary(rss.daemon), relay: rssSummary(rss.relay) };
  if (soakSeconds)
    log(
      `RSS over a ${SOAK_MINUTES}-minute soak (MB): daemon ${JSON.stringify(rssReport.daemon)}, relay ${JSON.stringify(rssReport.relay)}`,
    );
  log(
    `load average (1/5/15 min): ${loadavg()
      .map((x) => x.toFixed(1))
      .join(" ")}`,
  );
  const unexpected = [...phases, ...soak].reduce((a, p) => a + p.non2xx + p.errors, 0);
  log(`non-2xx and errors in all phases: ${unexpected}`);
  writeReport("load", {
    connections: CONNECTIONS,
    seconds: SECONDS,
    client_timeout_s: TIMEOUT_S,
    load_average: loadavg(),
    phases,
    soak,
    rss_mb: rssReport,
    rss_samples: rss,
  });
} finally {
  daemon?.child.kill("SIGTERM");
  await relay?.kill();
  dir.remove();
}
