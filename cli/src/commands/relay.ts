import { join } from "node:path";
import { DEFAULT_RELAY_PORT, loadDaemonConfig, tribalHome } from "@tribalmemory/shared/config/config";
import { TribalError } from "@tribalmemory/shared/errors";
import type { Command } from "commander";
import pino from "pino";

interface RelayDbOptions {
  dataDir?: string;
  databaseUrl?: string;
  adminDatabaseUrl?: string;
}

function dbOptions(opts: RelayDbOptions) {
  const databaseUrl = opts.databaseUrl ?? process.env.TRIBAL_MEMORY_DATABASE_URL ?? null;
  return {
    databaseUrl,
    adminDatabaseUrl: opts.adminDatabaseUrl ?? process.env.TRIBAL_MEMORY_ADMIN_DATABASE_URL ?? databaseUrl,
    dataDir: databaseUrl ? null : (opts.dataDir ?? join(tribalHome(), "relay")),
  };
}

const withDb = (cmd: Command) =>
  cmd
    .option(
      "--data-dir <dir>",
      "embedded database folder (PGlite) when no --database-url (default ~/.tribal-memory/relay)",
    )
    .option("--database-url <url>", "PostgreSQL URL the relay connects with (env TRIBAL_MEMORY_DATABASE_URL)")
    .option(
      "--admin-database-url <url>",
      "URL that runs migrations, e.g. the owner (default: --database-url)",
    );

/** `tribalmemory relay init|start`: bootstrap and run the cloud relay without a web page. */
export function registerRelayCommand(program: Command): void {
  const relay = program.command("relay").description("run the multi-tenant sync relay (sync-server)");

  withDb(relay.command("init"))
    .description("create the schema, a workspace and its first admin API key (shown once)")
    .option("--name <name>", "workspace name", "default")
    .option("--email <email>", "owner's email")
    .action(async (opts: RelayDbOptions & { name: string; email?: string }) => {
      const { openDatabase, createWorkspace, createApiKey } = await import("@tribalmemory/sync-server");
      const db = await openDatabase(dbOptions(opts));
      try {
        const { workspaceId, userId } = await createWorkspace(db, {
          name: opts.name,
          userEmail: opts.email ?? null,
        });
        const key = await createApiKey(db, workspaceId, {
          name: "admin (relay init)",
          scopes: ["admin"],
          userId,
        });
        process.stdout.write(
          `${JSON.stringify({ workspace_id: workspaceId, api_key: key.key, key_id: key.id, scopes: key.scopes }, null, 2)}\n` +
            "Store the API key now: it is shown once. Daemons use it as sync.api_key / TRIBAL_MEMORY_API_KEY.\n",
        );
      } finally {
        await db.close();
      }
    });

  withDb(relay.command("start"))
    .description("run the relay in the foreground")
    .option("-p, --port <port>", `port (default ${DEFAULT_RELAY_PORT})`, (v) => Number.parseInt(v, 10))
    .option("--host <host>", "address to listen on (default 0.0.0.0)")
    .option(
      "--embedding <provider>",
      "auto | bge-small-en-v1.5 | offline (USE-lite) | glove | hashing | none",
      "auto",
    )
    .action(async (opts: RelayDbOptions & { port?: number; host?: string; embedding: string }) => {
      const { startRelay } = await import("@tribalmemory/sync-server");
      const { chooseEmbedder } = await import("@tribalmemory/daemon/embed/select-embedder");
      const log = pino({ level: process.env.TRIBAL_MEMORY_LOG_LEVEL ?? "info" }, pino.destination(2));
      const choice = chooseEmbedder(loadDaemonConfig({ embedding: opts.embedding as never }));
      const embedder = choice ? await choice.load() : null;
      try {
        const running = await startRelay({
          ...dbOptions(opts),
          port: opts.port ?? DEFAULT_RELAY_PORT,
          host: opts.host,
          embedder,
          logger: log,
        });
        process.stdout.write(
          `${JSON.stringify({ url: running.url, port: running.port, pid: process.pid })}\n`,
        );
        const stop = () => {
          void running
            .close()
            .then(() => embedder?.provider.close())
            .then(() => process.exit(0));
        };
        process.once("SIGTERM", stop);
        process.once("SIGINT", stop);
      } catch (err) {
        if (err instanceof TribalError) {
          process.stderr.write(`tribalmemory relay: ${err.code}: ${err.message}\n`);
          process.exit(1);
        }
        throw err;
      }
    });
}
