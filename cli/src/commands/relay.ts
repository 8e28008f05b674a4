import { readFileSync } from "node:fs";
import {
  DEFAULT_RELAY_PORT,
  EMBEDDING_PROVIDER_NAMES,
  type EmbeddingProviderName,
  loadDaemonConfig,
  type RelaySettings,
} from "@tribalmemory/shared/config/config";
import { TribalError } from "@tribalmemory/shared/errors";
import type { Command } from "commander";
import pino from "pino";
import { registerRelayMigrateCommand } from "./relay-migrate.ts";
import {
  dbOptions,
  expand,
  failCleanly,
  type RelayDbOptions,
  relayOptions,
  withDb,
} from "./relay-options.ts";
import { registerRelayPlanCommand } from "./relay-plan.ts";

interface RelayStartOptions extends RelayDbOptions {
  port?: number;
  host?: string;
  embedding?: string;
  migrate?: boolean;
  tlsCert?: string;
  tlsKey?: string;
  behindProxy?: boolean;
  allowRlsBypass?: boolean;
  regions?: string[];
  readDatabaseUrl?: string;
}

function readPem(path: string, flag: string): Buffer {
  try {
    return readFileSync(expand(path));
  } catch (err) {
    throw new TribalError("VALIDATION_FAILED", `${flag} ${path}: ${(err as Error).message}`);
  }
}

/**
 * Stripe billing from the file's `relay.billing` (prices) and the environment (the secrets). A
 * file that asks for billing without the secrets is refused at start, not at the first payment.
 */
/** `relay.prune` in the units the relay takes (absent keys: its defaults). */
function pruneOptions(file: RelaySettings) {
  const p = file.prune ?? {};
  return {
    ...(p.enabled !== undefined ? { enabled: p.enabled } : {}),
    ...(p.stale_device_days !== undefined ? { staleDeviceMs: p.stale_device_days * 86_400_000 } : {}),
    ...(p.keep_hours !== undefined ? { keepMs: p.keep_hours * 3_600_000 } : {}),
    ...(p.interval_seconds !== undefined ? { intervalMs: p.interval_seconds * 1000 } : {}),
  };
}

function billingOptions(file: RelaySettings) {
  const stripe = file.billing?.stripe;
  if (!stripe) return null;
  const secretKey = process.env.TRIBAL_MEMORY_STRIPE_SECRET_KEY;
  const webhookSecret = process.env.TRIBAL_MEMORY_STRIPE_WEBHOOK_SECRET;
  if (!secretKey || !webhookSecret) {
    throw new TribalError(
      "CONFIG_INVALID",
      "relay.billing.stripe is configured but TRIBAL_MEMORY_STRIPE_SECRET_KEY and TRIBAL_MEMORY_STRIPE_WEBHOOK_SECRET are not both set: put them in the environment (or ~/.tribal-memory/.env).",
    );
  }
  return {
    stripe: {
      secret_key: secretKey,
      webhook_secret: webhookSecret,
      prices: stripe.prices,
      api_base: stripe.api_base,
    },
  };
}

/** `tribalmemory relay init|start|migrate`: bootstrap and run the cloud relay without a web page. */
export function registerRelayCommand(program: Command): void {
  const relay = program.command("relay").description("run the multi-tenant sync relay (sync-server)");

  withDb(relay.command("init"))
    .description("create the schema, a workspace and its first admin API key (shown once)")
    .option("--name <name>", "workspace name", "default")
    .option("--email <email>", "owner's email (an existing user gets this new workspace too)")
    .option("--region <region>", "where the workspace's data lives, e.g. eu (default: the default region)")
    .action(async (_o: unknown, cmd: Command) => {
      try {
        const { opts, config } = relayOptions<
          RelayDbOptions & { name: string; email?: string; region?: string }
        >(cmd);
        const { openDatabase, createWorkspace, createApiKey, parseRegions, DEFAULT_REGION } = await import(
          "@tribalmemory/sync-server"
        );
        const region = opts.region === undefined ? null : (parseRegions([opts.region])?.[0] ?? null);
        const db = await openDatabase(dbOptions(opts, config));
        try {
          const { workspaceId, userId, existingUser } = await createWorkspace(db, {
            name: opts.name,
            userEmail: opts.email ?? null,
            region,
          });
          const key = await createApiKey(db, workspaceId, {
            name: "admin (relay init)",
            scopes: ["admin"],
            userId,
          });
          process.stdout.write(
            `${JSON.stringify({ workspace_id: workspaceId, user_id: userId, existing_user: existingUser, region: region ?? DEFAULT_REGION, api_key: key.key, key_id: key.id, scopes: key.scopes }, null, 2)}\n` +
              "Store the API key now: it is shown once. Daemons use it as sync.api_key / TRIBAL_MEMORY_API_KEY.\n",
          );
        } finally {
          await db.close();
        }
      } catch (err) {
        failCleanly(err);
      }
    });

  withDb(relay.command("start"))
    .description("run the relay in the foreground")
    .option("-p, --port <port>", `port (default ${DEFAULT_RELAY_PORT})`, (v) => Number.parseInt(v, 10))
    .option(
      "--host <host>",
      "address to listen on (default 127.0.0.1; another needs --tls-cert/--tls-key or --behind-proxy)",
    )
    .option(
      "--read-database-url <url>",
      "a read replica for recall's searches, as the app role (env TRIBAL_MEMORY_READ_DATABASE_URL, config relay.read_database_url)",
    )
    .option("--tls-cert <file>", "PEM certificate (chain): serve HTTPS and WSS on the port")
    .option("--tls-key <file>", "PEM private key of --tls-cert")
    .option(
      "--behind-proxy",
      "a TLS-terminating proxy fronts the relay: allow plaintext off loopback, trust X-Forwarded-For/-Proto",
    )
    .option(
      "--allow-rls-bypass",
      "start even if the database role is a superuser or BYPASSRLS (no isolation between workspaces)",
    )
    .option(
      "--embedding <provider>",
      "auto | bge-small-en-v1.5 (or fastembed) | offline (USE-lite) | glove | hashing | none",
    )
    .option(
      "--no-migrate",
      "run no migrations (`relay migrate` runs them as the owner) and refuse an older schema: SCHEMA_OUTDATED (config db.migrate: false)",
    )
    .option(
      "--regions <list>",
      "serve only workspaces of these regions, comma-separated (e.g. eu,us); others get 421 WRONG_REGION",
      (v: string) => v.split(","),
    )
    .action(async (_o: unknown, cmd: Command) => {
      try {
        const { opts, config } = relayOptions<RelayStartOptions>(cmd);
        const file = config.relay;
        const certPath = opts.tlsCert ?? file.tls_cert;
        const keyPath = opts.tlsKey ?? file.tls_key;
        if (Boolean(certPath) !== Boolean(keyPath)) {
          throw new TribalError("VALIDATION_FAILED", "--tls-cert and --tls-key go together: pass both.");
        }
        const tls =
          certPath && keyPath
            ? { cert: readPem(certPath, "--tls-cert"), key: readPem(keyPath, "--tls-key") }
            : null;
        const { startRelay } = await import("@tribalmemory/sync-server");
        const { chooseEmbedder } = await import("@tribalmemory/shared/embed/select-embedder");
        const log = pino({ level: process.env.TRIBAL_MEMORY_LOG_LEVEL ?? "info" }, pino.destination(2));
        if (opts.embedding && !(EMBEDDING_PROVIDER_NAMES as readonly string[]).includes(opts.embedding)) {
          throw new TribalError(
            "VALIDATION_FAILED",
            `--embedding ${opts.embedding}: use one of ${EMBEDDING_PROVIDER_NAMES.join(", ")}.`,
          );
        }
        const embedding = opts.embedding
          ? loadDaemonConfig({ configPath: opts.config, embedding: opts.embedding as EmbeddingProviderName })
          : config;
        const choice = chooseEmbedder(embedding);
        const embedder = choice ? await choice.load() : null;
        const running = await startRelay({
          ...dbOptions(opts, config),
          readDatabaseUrl:
            opts.readDatabaseUrl ??
            (process.env.TRIBAL_MEMORY_READ_DATABASE_URL || undefined) ??
            file.read_database_url ??
            null,
          port: opts.port ?? file.port ?? DEFAULT_RELAY_PORT,
          host: opts.host ?? file.host,
          tls,
          behindProxy: opts.behindProxy ?? file.behind_proxy ?? false,
          allowRlsBypass: opts.allowRlsBypass ?? file.allow_rls_bypass ?? false,
          // --no-migrate has a default (true) in commander: only a flag actually given beats the file.
          migrate: cmd.getOptionValueSource("migrate") === "cli" ? opts.migrate : (file.migrate ?? true),
          singleTenant: file.auth_enabled === false,
          regions: opts.regions ?? file.regions ?? null,
          prune: pruneOptions(file),
          billing: billingOptions(file),
          // A secret: from the environment, never a flag (`ps` shows flags).
          metricsToken: process.env.TRIBAL_MEMORY_METRICS_TOKEN || null,
          embedder,
          logger: log,
        }).catch(async (err) => {
          await embedder?.provider.close();
          throw err;
        });
        process.stdout.write(
          `${JSON.stringify({ url: running.url, address: running.address, port: running.port, pid: process.pid })}\n`,
        );
        // First signal: drain (readiness 503, in-flight requests and pushes finish, sockets get
        // 1001) and exit 0; a second one does not wait for the drain deadline.
        let stopping = false;
        const stop = (signal: NodeJS.Signals) => {
          if (stopping) {
            log.warn({ signal }, "second signal: exiting without finishing the drain");
            process.exit(1);
          }
          stopping = true;
          log.info({ signal }, "relay stopping");
          void running
            .close()
            .then(() => embedder?.provider.close())
            .then(
              () => process.exit(0),
              (err) => {
                log.error({ err: (err as Error).message }, "relay stop failed");
                process.exit(1);
              },
            );
        };
        process.on("SIGTERM", stop);
        process.on("SIGINT", stop);
      } catch (err) {
        failCleanly(err);
      }
    });

  registerRelayMigrateCommand(relay);
  registerRelayPlanCommand(relay);
}
