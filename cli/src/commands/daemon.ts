import { existsSync } from "node:fs";
import { daemonInfoPath } from "@tribalmemory/shared/config/paths";
import type { Command } from "commander";
import { daemonUrl } from "../client.ts";
import { daemonHealth, spawnDaemon } from "../service/daemon-process.ts";
import { commandContext, fail, print } from "./context.ts";

interface EmbeddingStatus {
  status: string;
  model: string | null;
  backfill: { done: number; total: number } | null;
}

/** `tribalmemory daemon start|stop|status`: the background daemon. */
export function registerDaemonCommand(program: Command): void {
  const daemon = program.command("daemon").description("start, stop or inspect the background daemon");

  daemon
    .command("start")
    .description("start tribalmemoryd in the background")
    .option("-p, --port <port>", "port", (v) => Number.parseInt(v, 10))
    .option(
      "--embedding <provider>",
      "auto | bge-small-en-v1.5 | offline (USE-lite) | glove | hashing | none",
    )
    .action(async (opts: { port?: number; embedding?: string }) => {
      const { config, globals } = commandContext(program);
      const existing = await daemonHealth(daemonUrl(config), config.home);
      if (existing)
        return print(`tribalmemoryd already running at ${daemonUrl(config)} (pid ${existing.pid})`);
      try {
        const started = await spawnDaemon(config, {
          port: opts.port,
          configPath: globals.config,
          embedding: opts.embedding,
        });
        print(`tribalmemoryd started at ${started.url} (pid ${started.pid}); log: ${started.logPath}`);
      } catch (err) {
        fail((err as Error).message);
      }
    });

  daemon
    .command("stop")
    .description("stop the background daemon")
    .action(async () => {
      const { config, client } = commandContext(program);
      const info = daemonInfoPath(config.dataDir);
      const h = await daemonHealth(client.baseUrl, config.home);
      if (!h) return print("tribalmemoryd is not running");
      try {
        process.kill(Number(h.pid), "SIGTERM");
      } catch {
        await client.call("POST", "/v1/shutdown", {});
      }
      const deadline = Date.now() + 15_000;
      while (Date.now() < deadline && existsSync(info)) await new Promise((r) => setTimeout(r, 100));
      print(existsSync(info) ? "tribalmemoryd did not stop in 15 s" : "tribalmemoryd stopped");
    });

  daemon
    .command("status")
    .description("is the daemon running, and what does it hold")
    .option("--json", "machine-readable")
    .action(async (opts: { json?: boolean }) => {
      const { config, client } = commandContext(program);
      const h = await daemonHealth(client.baseUrl, config.home);
      if (!h) {
        if (opts.json) print({ running: false, url: client.baseUrl });
        else print(`tribalmemoryd is not running (${client.baseUrl})`);
        process.exitCode = 3;
        return;
      }
      if (opts.json) return print({ running: true, url: client.baseUrl, ...h });
      const e = h.embedding as EmbeddingStatus;
      print(
        [
          `running    ${client.baseUrl} (pid ${h.pid}, version ${h.version})`,
          `instance   ${h.instance_id}`,
          `memories   ${h.memory_count}`,
          `embedding  ${e.status}${e.model ? ` — ${e.model}` : ""}${e.backfill ? ` (backfill ${e.backfill.done}/${e.backfill.total})` : ""}`,
          `data       ${h.data_dir}`,
        ].join("\n"),
      );
    });
}
