/**
 * `pnpm bench import-health`: does a large import keep the daemon responsive?
 *
 * Starts a real daemon (child process, `--embedding none` by default so the figure is the
 * import's own cost, not the model's), streams a generated JSONL import of `--entries` lines
 * to `POST /v1/import`, and meanwhile fires `GET /v1/health` every `--poll-ms` on its own
 * clock — a request is sent on schedule even while earlier ones are still waiting, so a frozen
 * event loop shows as long latencies instead of as missing samples. Reports the import rate,
 * health p50/p99/max, the daemon's peak RSS (VmHWM), the progress log lines and the import
 * status that `/v1/health` showed.
 *
 * Options: --entries 100000  --poll-ms 20  --embedding none|hashing  --health-timeout-ms 30000
 *          --content-chars 220
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { readLocalToken } from "@tribalmemory/shared/config/local-token";
import { newMemoryId } from "@tribalmemory/shared/memory/ids";
import { Agent, request } from "undici";
import { rng } from "./_corpus.ts";
import { percentile, summarize, writeReport } from "./_report.ts";

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (a.startsWith("--"))
    args.set(
      a.slice(2),
      process.argv[i + 1]?.startsWith("--") || i + 1 >= process.argv.length ? "true" : process.argv[++i],
    );
}
const entries = Number(args.get("entries") ?? 100_000);
const pollMs = Number(args.get("poll-ms") ?? 20);
const embedding = args.get("embedding") ?? "none";
const healthTimeoutMs = Number(args.get("health-timeout-ms") ?? 30_000);
const contentChars = Number(args.get("content-chars") ?? 220);
const log = (s: string) => process.stdout.write(`${s}\n`);
const CLI = fileURLToPath(new URL("../../cli/src/tribalmemoryd.ts", import.meta.url));

// ------------------------------------------------------------ generated memories

const PEOPLE = ["Alice", "Bob", "Chen", "Dana", "Emeka", "Farah", "Goran", "Hiro", "Ines", "Jonas"];
const SYSTEMS = ["billing", "search", "ingest", "payments", "auth", "the CDN", "the queue", "Postgres"];
const VERBS = ["moved", "rewrote", "paused", "benchmarked", "documented", "rolled back", "split", "tuned"];
const WHY = [
  "because p99 latency doubled after the last deploy",
  "so the nightly batch finishes before 6am",
  "after the incident review asked for fewer moving parts",
  "to cut the cloud bill by about a third",
  "since the vendor library is no longer maintained",
];

function entryLine(i: number, random: () => number): string {
  const pick = <T>(xs: T[]) => xs[Math.floor(random() * xs.length)];
  let content = `${pick(PEOPLE)} ${pick(VERBS)} ${pick(SYSTEMS)} on 2024-${String(1 + (i % 12)).padStart(2, "0")}-${String(1 + (i % 28)).padStart(2, "0")} ${pick(WHY)} (note ${i}).`;
  while (content.length < contentChars) content += ` ${pick(PEOPLE)} agreed; see ticket OPS-${i % 9973}.`;
  const created = new Date(Date.UTC(2024, 0, 1) + i * 60_000).toISOString();
  return `${JSON.stringify({
    id: newMemoryId(Date.UTC(2024, 0, 1) + i),
    content: content.slice(0, contentChars),
    tags: [pick(["ops", "design", "people", "infra"])],
    source_type: "import",
    created_at: created,
    updated_at: created,
  })}\n`;
}

/** The JSONL body, generated as it is sent (the client holds a few hundred lines at a time). */
function jsonlBody(): Readable {
  const random = rng(7);
  return Readable.from(
    (function* () {
      yield `${JSON.stringify({ manifest: { schema_version: "1.0", memory_count: entries } })}\n`;
      let chunk = "";
      for (let i = 0; i < entries; i++) {
        chunk += entryLine(i, random);
        if (chunk.length > 64 * 1024) {
          yield chunk;
          chunk = "";
        }
      }
      if (chunk) yield chunk;
    })(),
  );
}

// ------------------------------------------------------------ daemon

async function startDaemon(home: string): Promise<{ child: ChildProcess; url: string; stderr: string[] }> {
  const child = spawn(process.execPath, [CLI, "--port", "0", "--embedding", embedding], {
    env: { ...process.env, TRIBAL_MEMORY_HOME: home, TRIBAL_MEMORY_LOG_LEVEL: "info" },
    stdio: ["ignore", "ignore", "pipe"],
  });
  const stderr: string[] = [];
  let partial = "";
  child.stderr?.on("data", (d: Buffer) => {
    const parts = (partial + d.toString("utf8")).split("\n");
    partial = parts.pop() ?? "";
    stderr.push(...parts.filter(Boolean));
  });
  const info = join(home, "data", "daemon.json");
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`daemon exited ${child.exitCode}: ${stderr.join("\n")}`);
    if (existsSync(info)) {
      try {
        const { url, pid } = JSON.parse(readFileSync(info, "utf8")) as { url: string; pid: number };
        if (pid === child.pid) return { child, url, stderr };
      } catch {
        // being written
      }
    }
    if (Date.now() > deadline) throw new Error(`daemon did not start: ${stderr.join("\n")}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function procStatusKb(pid: number, field: "VmRSS" | "VmHWM"): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

// ------------------------------------------------------------ run

const home = mkdtempSync(join(tmpdir(), "tm-bench-import-"));
const { child, url, stderr } = await startDaemon(home);
const pid = child.pid as number;
const agent = new Agent({ connections: 256, keepAliveTimeout: 10_000 });
log(
  `daemon ${url} (pid ${pid}, embedding ${embedding}); importing ${entries} entries, health every ${pollMs} ms`,
);

const latencies: number[] = [];
let timeouts = 0;
let failures = 0;
let maxImportDone = 0;
let sawImportRunning = false;
let rssSamplesKb: number[] = [];
const inflight = new Set<Promise<void>>();
let polling = true;

async function healthOnce(): Promise<void> {
  const t0 = performance.now();
  try {
    const res = await request(`${url}/v1/health`, {
      dispatcher: agent,
      signal: AbortSignal.timeout(healthTimeoutMs),
    });
    const body = (await res.body.json()) as { import?: { running?: boolean; done?: number } };
    latencies.push(performance.now() - t0);
    if (res.statusCode !== 200) failures++;
    if (body.import?.running) sawImportRunning = true;
    maxImportDone = Math.max(maxImportDone, body.import?.done ?? 0);
  } catch (err) {
    if ((err as Error).name === "TimeoutError" || (err as Error).name === "AbortError") {
      timeouts++;
      latencies.push(healthTimeoutMs);
    } else failures++;
  }
}

const poller = (async () => {
  let next = performance.now();
  while (polling) {
    const p = healthOnce();
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
    if (latencies.length % 25 === 0) rssSamplesKb.push(procStatusKb(pid, "VmRSS"));
    next += pollMs;
    await new Promise((r) => setTimeout(r, Math.max(0, next - performance.now())));
  }
})();

// Idle baseline for a second, so the figures can be compared with a quiet daemon.
await new Promise((r) => setTimeout(r, 1000));
const idle = latencies.splice(0);
const rssBeforeKb = procStatusKb(pid, "VmRSS");
rssSamplesKb = [];

const started = performance.now();
const res = await request(`${url}/v1/import`, {
  method: "POST",
  dispatcher: agent,
  // Import needs the daemon's local token.
  headers: { "content-type": "application/x-ndjson", "x-tribal-token": readLocalToken(home) ?? "" },
  body: jsonlBody(),
  headersTimeout: 0,
  bodyTimeout: 0,
});
const summary = (await res.body.json()) as Record<string, unknown>;
const importMs = performance.now() - started;
polling = false;
await poller;
await Promise.all(inflight);
const during = latencies.splice(0);

// Idle again, at the imported size: health computes the memory count itself when no import runs.
const idlePoller = (async () => {
  let next = performance.now();
  const stop = next + 2000;
  while (performance.now() < stop) {
    const p = healthOnce();
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
    next += pollMs;
    await new Promise((r) => setTimeout(r, Math.max(0, next - performance.now())));
  }
})();
await idlePoller;
await Promise.all(inflight);
const idleAfter = latencies.splice(0);

const health = (await (await request(`${url}/v1/health`, { dispatcher: agent })).body.json()) as {
  memory_count: number;
};
const peakRssKb = procStatusKb(pid, "VmHWM");
const progressLines = stderr
  .map((l) => {
    try {
      return JSON.parse(l) as { msg?: string; done?: number; total?: number };
    } catch {
      return null;
    }
  })
  .filter((l): l is { msg: string; done: number; total?: number } => !!l && /import/i.test(l.msg ?? ""));
child.kill("SIGTERM");
await new Promise((r) => child.once("exit", r));
await agent.close();
rmSync(home, { recursive: true, force: true });

const r1 = (x: number) => Math.round(x * 10) / 10;
const report = {
  entries,
  embedding,
  poll_ms: pollMs,
  import: {
    status: res.statusCode,
    seconds: r1(importMs / 1000),
    entries_per_s: Math.round(entries / (importMs / 1000)),
    imported: summary.imported,
    errors: summary.errors,
    memory_count_after: health.memory_count,
  },
  health_during_import_ms: {
    ...summarize(during),
    max: r1(Math.max(...during)),
    over_100ms: during.filter((x) => x > 100).length,
    timeouts,
    failures,
  },
  health_idle_ms: { p50: r1(percentile(idle, 50)), p99: r1(percentile(idle, 99)) },
  health_idle_after_import_ms: {
    p50: r1(percentile(idleAfter, 50)),
    p99: r1(percentile(idleAfter, 99)),
    max: r1(Math.max(...idleAfter)),
  },
  rss_mb: {
    before_import: Math.round(rssBeforeKb / 1024),
    peak: Math.round(peakRssKb / 1024),
    max_sampled_during_import: Math.round(Math.max(...rssSamplesKb.filter(Number.isFinite)) / 1024),
  },
  progress: {
    log_lines: progressLines.length,
    first: progressLines[0] ?? null,
    last: progressLines.at(-1) ?? null,
    health_showed_running: sawImportRunning,
    health_max_done: maxImportDone,
  },
};
log(
  `import: ${report.import.imported} of ${entries} in ${report.import.seconds} s (${report.import.entries_per_s}/s), status ${res.statusCode}`,
);
log(
  `health during import: p50 ${r1(report.health_during_import_ms.p50)} ms, p99 ${r1(report.health_during_import_ms.p99)} ms, max ${report.health_during_import_ms.max} ms over ${during.length} polls (${report.health_during_import_ms.over_100ms} over 100 ms, ${timeouts} timeouts)`,
);
log(
  `health idle after import (memory count computed per request): p50 ${report.health_idle_after_import_ms.p50} ms, p99 ${report.health_idle_after_import_ms.p99} ms`,
);
log(
  `daemon RSS: ${report.rss_mb.before_import} MB before, peak ${report.rss_mb.peak} MB; progress: ${progressLines.length} log lines, health import.done up to ${maxImportDone}`,
);
writeReport(`import-health-${entries}`, report);
