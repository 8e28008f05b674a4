import { DAEMON_VERSION, startDaemon } from "@tribalmemory/daemon/daemon";
import { loadDaemonConfig } from "@tribalmemory/shared/config/config";
import { TribalError } from "@tribalmemory/shared/errors";
import { Command } from "commander";

/** `tribalmemoryd`: the daemon in the foreground (services and `daemon start` run this). */
const program = new Command("tribalmemoryd")
  .description("TribalMemory daemon: shared memory for the agents on this machine")
  .version(DAEMON_VERSION)
  .option("-p, --port <port>", "port to listen on (default 18790)", (v) => Number.parseInt(v, 10))
  .option("--host <host>", "address to listen on (default 127.0.0.1: this machine only)")
  .option(
    "--require-token",
    "every request needs the local token (~/.tribal-memory/local-token); required off loopback",
  )
  .option("-d, --data-dir <dir>", "data folder (default ~/.tribal-memory/data)")
  .option("-c, --config <file>", "config file (default ~/.tribal-memory/config.yaml)")
  .option("--embedding <provider>", "auto | bge-small-en-v1.5 | offline (USE-lite) | glove | hashing | none")
  .action(
    async (opts: {
      port?: number;
      host?: string;
      requireToken?: boolean;
      dataDir?: string;
      config?: string;
      embedding?: string;
    }) => {
      try {
        const config = loadDaemonConfig({
          port: opts.port,
          host: opts.host,
          requireToken: opts.requireToken,
          dataDir: opts.dataDir,
          configPath: opts.config,
          embedding: opts.embedding as never,
        });
        const daemon = await startDaemon(config);
        const stop = () => {
          void daemon.close().then(() => process.exit(0));
        };
        process.once("SIGTERM", stop);
        process.once("SIGINT", stop);
      } catch (err) {
        if (err instanceof TribalError) {
          process.stderr.write(`tribalmemoryd: ${err.code}: ${err.message}\n`);
          process.exit(err.code === "DATA_DIR_LOCKED" ? 3 : 1);
        }
        if ((err as NodeJS.ErrnoException).code === "EADDRINUSE") {
          process.stderr.write(
            `tribalmemoryd: port in use: ${(err as Error).message}. Pass --port or stop the other process.\n`,
          );
          process.exit(4);
        }
        throw err;
      }
    },
  );

await program.parseAsync(process.argv);
