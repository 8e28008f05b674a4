import { spawn } from "node:child_process";
import { createWriteStream, existsSync, mkdirSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type DaemonConfig, loadDaemonConfig } from "@tribalmemory/shared/config/config";
import { daemonInfoPath, TRIBAL_MEMORY_VERSION } from "@tribalmemory/shared/config/paths";
import { Command } from "commander";
import { ApiError, daemonUrl, TribalClient } from "./client.ts";
import { registerInitCommand } from "./commands/init.ts";
import { registerKeysCommand } from "./commands/keys.ts";
import { registerRelayCommand } from "./commands/relay.ts";
import { registerServiceCommand } from "./commands/service.ts";
import { registerSyncCommand } from "./commands/sync.ts";
import { ProgressBar } from "./progress.ts";
import { renderRecallTable, renderStats } from "./render.ts";

const program = new Command("tribalmemory")
  .description("TribalMemory: one memory shared by every agent on your machines")
  .version(TRIBAL_MEMORY_VERSION)
  .option("--url <url>", "daemon URL (default: the running daemon, or http://127.0.0.1:18790)")
  .option("-d, --data-dir <dir>", "data folder (default ~/.tribal-memory/data)")
  .option("-c, --config <file>", "config file (default ~/.tribal-memory/config.yaml)");

function ctx(): { config: DaemonConfig; client: TribalClient } {
  const g = program.opts<{ url?: string; dataDir?: string; config?: string }>();
  const config = loadDaemonConfig({ dataDir: g.dataDir, configPath: g.config });
  return { config, client: new TribalClient(daemonUrl(config, g.url)) };
}

const csv = (v: string) =>
  v
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
const out = (v: unknown): void => {
  process.stdout.write(`${typeof v === "string" ? v : JSON.stringify(v, null, 2)}\n`);
};

// ---------------------------------------------------------------- daemon

const daemon = program.command("daemon").description("start, stop or inspect the background daemon");

daemon
  .command("start")
  .description("start tribalmemoryd in the background")
  .option("-p, --port <port>", "port", (v) => Number.parseInt(v, 10))
  .option("--embedding <provider>", "auto | bge-small-en-v1.5 | offline (USE-lite) | glove | hashing | none")
  .action(async (opts: { port?: number; embedding?: string }) => {
    const { config } = ctx();
    const g = program.opts<{ dataDir?: string; config?: string }>();
    const existing = await healthOf(new TribalClient(daemonUrl(config)));
    if (existing) return out(`tribalmemoryd already running at ${daemonUrl(config)} (pid ${existing.pid})`);
    mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
    const logPath = join(config.dataDir, "daemon.log");
    const logFd = openSync(logPath, "a", 0o600);
    const args = [
      fileURLToPath(new URL("./tribalmemoryd.ts", import.meta.url)),
      "--data-dir",
      config.dataDir,
    ];
    if (g.config) args.push("--config", g.config);
    if (opts.port !== undefined) args.push("--port", String(opts.port));
    if (opts.embedding) args.push("--embedding", opts.embedding);
    const child = spawn(process.execPath, args, { detached: true, stdio: ["ignore", logFd, logFd] });
    child.unref();
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      await sleep(150);
      if (child.exitCode !== null) break;
      if (existsSync(daemonInfoPath(config.dataDir))) {
        const h = await healthOf(new TribalClient(daemonUrl(config)));
        if (h) return out(`tribalmemoryd started at ${daemonUrl(config)} (pid ${h.pid}); log: ${logPath}`);
      }
    }
    fail(`tribalmemoryd did not start; see ${logPath}:\n${tail(logPath)}`);
  });

daemon
  .command("stop")
  .description("stop the background daemon")
  .action(async () => {
    const { config, client } = ctx();
    const info = daemonInfoPath(config.dataDir);
    const h = await healthOf(client);
    if (!h) return out("tribalmemoryd is not running");
    try {
      process.kill(Number(h.pid), "SIGTERM");
    } catch {
      await client.call("POST", "/v1/shutdown", {});
    }
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && existsSync(info)) await sleep(100);
    out(existsSync(info) ? "tribalmemoryd did not stop in 15 s" : "tribalmemoryd stopped");
  });

daemon
  .command("status")
  .description("is the daemon running, and what does it hold")
  .option("--json", "machine-readable")
  .action(async (opts: { json?: boolean }) => {
    const { client } = ctx();
    const h = await healthOf(client);
    if (!h) {
      if (opts.json) out({ running: false, url: client.baseUrl });
      else out(`tribalmemoryd is not running (${client.baseUrl})`);
      process.exitCode = 3;
      return;
    }
    if (opts.json) return out({ running: true, url: client.baseUrl, ...h });
    const e = h.embedding as {
      status: string;
      model: string | null;
      backfill: { done: number; total: number } | null;
    };
    out(
      [
        `running    ${client.baseUrl} (pid ${h.pid}, version ${h.version})`,
        `instance   ${h.instance_id}`,
        `memories   ${h.memory_count}`,
        `embedding  ${e.status}${e.model ? ` — ${e.model}` : ""}${e.backfill ? ` (backfill ${e.backfill.done}/${e.backfill.total})` : ""}`,
        `data       ${h.data_dir}`,
      ].join("\n"),
    );
  });

// ---------------------------------------------------------------- memories

program
  .command("remember")
  .description("remember a fact")
  .argument("<content...>", "what to remember")
  .option("-t, --tags <tags>", "comma-separated tags", csv)
  .option("--source-type <type>", "user_explicit | auto_capture | …", "user_explicit")
  .option("--instance <name>", "source_instance (which agent wrote it)")
  .option("--context <text>", "context of the capture")
  .option("--json", "print the API response")
  .action(
    async (
      words: string[],
      opts: { tags?: string[]; sourceType: string; instance?: string; context?: string; json?: boolean },
    ) => {
      const { client } = ctx();
      const r = await client.call<{ memory_id: string; duplicate_of: string | null }>(
        "POST",
        "/v1/remember",
        {
          content: words.join(" "),
          source_type: opts.sourceType,
          tags: opts.tags,
          source_instance: opts.instance ?? "cli",
          context: opts.context,
        },
      );
      if (opts.json) return out(r);
      out(r.duplicate_of ? `already known as ${r.duplicate_of} (tags merged)` : `remembered ${r.memory_id}`);
    },
  );

program
  .command("recall")
  .description("find what is remembered about something")
  .argument("<query...>", "what to look for")
  .option("-n, --limit <n>", "results", (v) => Number.parseInt(v, 10), 5)
  .option("--min-relevance <x>", "0..1", Number.parseFloat)
  .option("-t, --tags <tags>", "only these tags", csv)
  .option("--instance <name>", "only memories from this source_instance")
  .option("--after <date>", "created on/after (ISO or words)")
  .option("--before <date>", "created before (ISO or words)")
  .option("--include-superseded", "show corrected memories too")
  .option("--json", "print the API response")
  .action(async (words: string[], opts: Record<string, unknown>) => {
    const { client } = ctx();
    const r = await client.call<Parameters<typeof renderRecallTable>[0]>("POST", "/v1/recall", {
      query: words.join(" "),
      limit: opts.limit,
      min_relevance: opts.minRelevance,
      tags: opts.tags,
      source_instance: opts.instance,
      after: opts.after,
      before: opts.before,
      include_superseded: opts.includeSuperseded === true,
    });
    out(opts.json ? r : renderRecallTable(r, process.stdout.columns ?? 100));
  });

program
  .command("correct")
  .description("correct a memory: the new one supersedes it")
  .argument("<memory_id>")
  .argument("<content...>", "the corrected fact")
  .option("--json", "print the API response")
  .action(async (id: string, words: string[], opts: { json?: boolean }) => {
    const { client } = ctx();
    const r = await client.call<{ memory_id: string }>("POST", "/v1/correct", {
      original_id: id,
      corrected_content: words.join(" "),
      source_instance: "cli",
    });
    out(opts.json ? r : `corrected: ${r.memory_id} supersedes ${id}`);
  });

program
  .command("forget")
  .description("forget a memory (hidden everywhere)")
  .argument("<memory_id>")
  .action(async (id: string) => {
    const { client } = ctx();
    await client.call("POST", "/v1/forget", { memory_id: id });
    out(`forgot ${id}`);
  });

program
  .command("stats")
  .description("what the memory holds")
  .option("--json", "print the API response")
  .action(async (opts: { json?: boolean }) => {
    const { client } = ctx();
    const r = await client.call<Record<string, unknown>>("GET", "/v1/stats");
    out(opts.json ? r : renderStats(r));
  });

program
  .command("export")
  .description("export memories (JSONL by default; --format bundle for TribalMemory's JSON bundle)")
  .option("-o, --out <file>", "write to a file instead of stdout")
  .option("--format <format>", "jsonl | bundle", "jsonl")
  .option("-t, --tags <tags>", "only these tags", csv)
  .option("--include-embeddings", "include vectors")
  .action(async (opts: { out?: string; format: string; tags?: string[]; includeEmbeddings?: boolean }) => {
    const { client } = ctx();
    const qs = new URLSearchParams({ format: opts.format });
    if (opts.tags) qs.set("tags", opts.tags.join(","));
    if (opts.includeEmbeddings) qs.set("include_embeddings", "true");
    const { request } = await import("undici");
    const res = await request(`${client.baseUrl}/v1/export?${qs}`, { headers: client.authHeaders() });
    if (res.statusCode >= 400) fail(await res.body.text());
    const sink = opts.out ? createWriteStream(opts.out) : process.stdout;
    let lines = 0;
    for await (const chunk of res.body) {
      lines += (chunk as Buffer).toString("utf8").split("\n").length - 1;
      sink.write(chunk);
    }
    if (opts.out) {
      await new Promise<void>((r) => (sink as ReturnType<typeof createWriteStream>).end(r));
      process.stderr.write(
        `exported ${opts.format === "jsonl" ? lines - 1 : "all"} memories to ${opts.out}\n`,
      );
    }
  });

program
  .command("import")
  .description("import a JSONL export or a TribalMemory bundle (.json)")
  .argument("<file>")
  .option("--conflict <mode>", "skip | overwrite | merge (for ids that already exist)", "skip")
  .option(
    "--on-error <mode>",
    "skip: import the good lines; abort: import nothing if any line is bad",
    "skip",
  )
  .option("--dry-run", "report what would happen, write nothing")
  .option("--json", "print the summary as JSON")
  .action(
    async (file: string, opts: { conflict: string; onError: string; dryRun?: boolean; json?: boolean }) => {
      const { client } = ctx();
      const text = readFileSync(file, "utf8");
      const lines = toJsonlLines(text);
      const manifest = lines[0]?.startsWith('{"manifest"') ? lines.shift() : undefined;
      const chunkSize = 500;
      const totals = {
        total: 0,
        imported: 0,
        skipped: 0,
        overwritten: 0,
        merged: 0,
        duplicates: 0,
        errors: 0,
        error_details: [] as string[],
      };
      const send = async (dryRun: boolean, bar: ProgressBar | null) => {
        for (let i = 0; i < lines.length; i += chunkSize) {
          const chunk = lines.slice(i, i + chunkSize);
          // Keep line numbers true to the file: blank lines pad the chunk's start.
          const body = `${manifest ? `${manifest}\n` : ""}${"\n".repeat(i)}${chunk.join("\n")}\n`;
          const qs = new URLSearchParams({
            conflict_resolution: opts.conflict,
            on_error: "skip",
            dry_run: String(dryRun),
          });
          const r = await client.call<typeof totals>(
            "POST",
            `/v1/import?${qs}`,
            body,
            "application/x-ndjson",
          );
          if (!dryRun || opts.dryRun) {
            for (const k of [
              "total",
              "imported",
              "skipped",
              "overwritten",
              "merged",
              "duplicates",
              "errors",
            ] as const)
              totals[k] += r[k];
          }
          totals.error_details.push(
            ...r.error_details.map((d) =>
              d.replace(
                /^line (\d+)/,
                (_m, n) => `line ${Number(n) - (manifest ? 1 : 0) + (manifest ? 1 : 0)}`,
              ),
            ),
          );
          bar?.update(Math.min(i + chunkSize, lines.length));
        }
      };
      if (opts.onError === "abort" && !opts.dryRun) {
        await send(true, null);
        if (totals.error_details.length) {
          for (const d of totals.error_details.slice(0, 20)) process.stderr.write(`  ${d}\n`);
          fail(`nothing imported: ${totals.error_details.length} bad line(s) (--on-error abort)`);
        }
        totals.error_details = [];
      }
      const bar =
        process.stderr.isTTY || process.env.TRIBAL_MEMORY_PROGRESS
          ? new ProgressBar("importing", lines.length)
          : null;
      await send(opts.dryRun === true, bar);
      bar?.done();
      if (opts.json) return out(totals);
      out(
        `${opts.dryRun ? "would import" : "imported"} ${totals.imported} of ${totals.total}; skipped ${totals.skipped} (${totals.duplicates} duplicates), overwritten ${totals.overwritten}, merged ${totals.merged}, errors ${totals.errors}`,
      );
      for (const d of totals.error_details.slice(0, 20)) process.stderr.write(`  ${d}\n`);
    },
  );

/** A bundle (.json) becomes JSONL lines; JSONL stays as it is. */
function toJsonlLines(text: string): string[] {
  const trimmed = text.trimStart();
  if (
    trimmed.startsWith("{") &&
    !trimmed
      .slice(0, trimmed.indexOf("\n") + 1 || undefined)
      .trim()
      .endsWith("}")
  ) {
    const parsed = JSON.parse(text) as {
      manifest?: unknown;
      entries?: unknown[];
      bundle?: { manifest: unknown; entries: unknown[] };
    };
    const bundle = parsed.bundle ?? parsed;
    return [
      JSON.stringify({ manifest: bundle.manifest }),
      ...(bundle.entries ?? []).map((e) => JSON.stringify(e)),
    ];
  }
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}

async function healthOf(client: TribalClient): Promise<Record<string, unknown> | null> {
  try {
    return await client.call<Record<string, unknown>>("GET", "/v1/health");
  } catch {
    return null;
  }
}

function tail(path: string): string {
  try {
    return readFileSync(path, "utf8").split("\n").slice(-15).join("\n");
  } catch {
    return "";
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function fail(message: string): never {
  process.stderr.write(`tribalmemory: ${message}\n`);
  process.exit(1);
}

registerInitCommand(program);
registerServiceCommand(program);
registerRelayCommand(program);
registerKeysCommand(program);
registerSyncCommand(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof ApiError) fail(`${err.code}: ${err.message}`);
  throw err;
}
