import { existsSync, readFileSync } from "node:fs";
import { homedir, hostname } from "node:os";
import { join, resolve } from "node:path";
import { z } from "zod";
import { TribalError } from "../errors.ts";
import { MAX_CONTENT_BYTES_CEILING } from "../memory/size-policy.ts";
import { parseConfigText } from "./config-errors.ts";

export const DEFAULT_DAEMON_PORT = 18790;
export const DEFAULT_RELAY_PORT = 18800;

/** `~/.tribal-memory`, or TRIBAL_MEMORY_HOME when set (tests use temporary homes). */
export function tribalHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.TRIBAL_MEMORY_HOME ? resolve(env.TRIBAL_MEMORY_HOME) : join(homedir(), ".tribal-memory");
}

/** Provider names the config file, `--embedding` and TRIBAL_MEMORY_EMBEDDING take. */
export const EMBEDDING_PROVIDER_NAMES = [
  "auto",
  "bge-small-en-v1.5",
  "fastembed",
  "offline",
  "glove",
  "hashing",
  "openai",
  "none",
] as const;
export type EmbeddingProviderName = (typeof EMBEDDING_PROVIDER_NAMES)[number];

/** TRIBAL_MEMORY_EMBEDDING, checked: a misspelt name would otherwise fall through to the offline model. */
function envEmbeddingProvider(value: string | undefined): EmbeddingProviderName | undefined {
  if (!value) return undefined;
  if ((EMBEDDING_PROVIDER_NAMES as readonly string[]).includes(value)) return value as EmbeddingProviderName;
  throw new TribalError(
    "CONFIG_INVALID",
    `TRIBAL_MEMORY_EMBEDDING=${value} is not a provider: use one of ${EMBEDDING_PROVIDER_NAMES.join(", ")}.`,
  );
}

/** `fastembed` is the spec's name for bge-small-en-v1.5: one model, one code path (select-embedder.ts). */
export function embeddingProvider(name: EmbeddingProviderName): DaemonConfig["embedding"]["provider"] {
  return name === "fastembed" ? "bge-small-en-v1.5" : name;
}

const ConfigFile = z.strictObject({
  instance_id: z.string().min(1).max(200).optional(),
  data_dir: z.string().optional(),
  server: z
    .strictObject({
      host: z.string().optional(),
      port: z.number().int().min(0).max(65535).optional(),
      /** Host names the daemon answers besides loopback (`name` or `name:port`). */
      allowed_hosts: z.array(z.string().min(1).max(255)).max(64).optional(),
      /** Web origins allowed to call the daemon (`https://app.example`); none by default. */
      allowed_origins: z.array(z.string().url()).max(64).optional(),
      /** Every route needs the local token; required to listen off loopback. */
      require_token: z.boolean().optional(),
    })
    .optional(),
  embedding: z
    .strictObject({
      /**
       * auto: bge-small if its weights are present, else the offline npm model (USE-lite).
       * offline: USE-lite; glove: GloVe-SIF (faster to embed, weaker). fastembed: the spec's
       * name for bge-small-en-v1.5 (the same model, run by our own ONNX path, see DESIGN.md).
       * openai: any OpenAI-compatible `POST /v1/embeddings` endpoint (base_url, model; the key
       * from TRIBAL_MEMORY_EMBEDDING_API_KEY or OPENAI_API_KEY, never from this file).
       */
      provider: z.enum(EMBEDDING_PROVIDER_NAMES).optional(),
      model_dir: z.string().optional(),
      model_sha256: z
        .string()
        .regex(/^[0-9a-f]{64}$/)
        .optional(),
      threads: z.number().int().min(1).max(64).optional(),
      /** openai: `https://api.openai.com/v1`, `http://127.0.0.1:11434/v1` (Ollama) … */
      base_url: z
        .string()
        .url()
        .regex(/^https?:\/\//, "an http:// or https:// URL, e.g. http://127.0.0.1:11434/v1")
        .optional(),
      /** openai: the endpoint's model name (`text-embedding-3-small`, `nomic-embed-text` …). */
      model: z.string().min(1).max(200).optional(),
      /** openai: ask for this vector size (models that can shorten theirs). */
      dimensions: z.number().int().min(1).max(16_000).optional(),
      /** openai: most texts per request (default 64). */
      batch_size: z.number().int().min(1).max(2048).optional(),
      /** openai: seconds per request before it is retried (default 30). */
      timeout: z.number().min(0.1).max(600).optional(),
      /** openai: prepended to queries / stored texts, for models trained with them (nomic-embed-text: `search_query: `, `search_document: `). */
      query_prefix: z.string().max(200).optional(),
      passage_prefix: z.string().max(200).optional(),
    })
    .optional(),
  limits: z
    .strictObject({
      max_content_bytes: z
        .number()
        .int()
        .min(256)
        // Past this a memory would not fit one sync change (size-policy.ts).
        .max(MAX_CONTENT_BYTES_CEILING)
        .optional(),
    })
    .optional(),
  sync: z
    .strictObject({
      enabled: z.boolean().optional(),
      cloud_url: z.string().url().optional(),
      api_key: z.string().optional(),
      sessions: z.boolean().optional(),
      /** Send the API key over http:// or ws:// to a relay off loopback (trusted networks only). */
      allow_insecure: z.boolean().optional(),
      /** Seconds between the daemon's periodic outbox flush and liveness check (default 5). */
      interval: z.number().int().min(1).max(3600).optional(),
    })
    .optional(),
  /**
   * The relay's database (`relay start`, `relay init`, `relay migrate`); the daemon keeps SQLite
   * in `data_dir` and ignores it. pglite: `uri` is a folder (default ~/.tribal-memory/relay);
   * postgres: `uri` is the app role's URL, `admin_uri` the owner's that migrates. The older
   * `relay.data_dir`/`relay.database_url`/`relay.admin_database_url` win when set.
   */
  db: z
    .strictObject({
      provider: z.enum(["postgres", "pglite"]),
      uri: z.string().min(1).optional(),
      admin_uri: z.string().min(1).optional(),
      /** false: `relay start` runs no migrations (`relay migrate` does) and refuses an older schema. */
      migrate: z.boolean().optional(),
    })
    .superRefine((db, ctx) => {
      const isUrl = (u: string | undefined) => u !== undefined && /^postgres(ql)?:\/\//.test(u);
      if (db.provider === "postgres" && !isUrl(db.uri)) {
        ctx.addIssue({
          code: "custom",
          path: ["uri"],
          message: "provider postgres needs uri: postgres://user@host:5432/db",
        });
      }
      if (db.provider === "pglite" && isUrl(db.uri)) {
        ctx.addIssue({
          code: "custom",
          path: ["uri"],
          message: "a postgres:// URL needs provider: postgres (pglite takes a folder)",
        });
      }
      if (db.admin_uri !== undefined && (db.provider !== "postgres" || !isUrl(db.admin_uri))) {
        ctx.addIssue({
          code: "custom",
          path: ["admin_uri"],
          message: "admin_uri is a postgres:// URL, with provider: postgres",
        });
      }
    })
    .optional(),
  /**
   * Who must authenticate. Daemon: `require_key: true` is `server.require_token: true` (every
   * route needs the local token); destructive and bulk routes need it anyway, and `enabled` does
   * not turn that off. Relay: API keys are always required unless `enabled: false`, which makes
   * a single-tenant relay without keys, allowed on loopback only (AUTH_DISABLED_OFF_LOOPBACK).
   */
  auth: z
    .strictObject({
      enabled: z.boolean().optional(),
      require_key: z.boolean().optional(),
    })
    .superRefine((auth, ctx) => {
      if (auth.enabled === false && auth.require_key === true) {
        ctx.addIssue({
          code: "custom",
          path: ["require_key"],
          message: "contradicts auth.enabled: false; drop one of them",
        });
      }
    })
    .optional(),
  sessions: z
    .strictObject({
      /** Follow agent transcript folders (default true, false under a TRIBAL_MEMORY_HOME). */
      watch: z.boolean().optional(),
      /** Folders to follow; default Claude Code's and Codex's. `~` is the home folder. */
      folders: z.array(z.string().min(1)).max(64).optional(),
      /** Days session messages and chunks are kept; 0 keeps them forever. */
      retention_days: z.number().int().min(0).max(36_500).optional(),
    })
    .optional(),
  redaction: z
    .strictObject({
      /** Replace API keys, private keys, tokens and passwords in content before storing (default true). */
      enabled: z.boolean().optional(),
    })
    .optional(),
  /** `tribalmemory relay start` settings; its flags win over them. */
  relay: z
    .strictObject({
      host: z.string().optional(),
      port: z.number().int().min(0).max(65535).optional(),
      data_dir: z.string().optional(),
      database_url: z.string().optional(),
      admin_database_url: z.string().optional(),
      /** A read replica for recall's searches; it lags the primary (README "Scaling the relay"). */
      read_database_url: z.string().optional(),
      tls_cert: z.string().optional(),
      tls_key: z.string().optional(),
      behind_proxy: z.boolean().optional(),
      allow_rls_bypass: z.boolean().optional(),
      /**
       * Change-log pruning (sync-server/src/sync/log-pruner.ts): changes every active device has
       * acknowledged, older than `keep_hours` (default 24), are deleted; a device not seen for
       * `stale_device_days` (default 30) stops holding them and re-bootstraps from the snapshot.
       */
      prune: z
        .strictObject({
          enabled: z.boolean().optional(),
          stale_device_days: z.number().min(0).max(36_500).optional(),
          keep_hours: z.number().min(0).max(876_000).optional(),
          interval_seconds: z.number().int().min(1).max(86_400).optional(),
        })
        .optional(),
      /** Serve only workspaces of these regions (others: 421 WRONG_REGION); absent: every region. */
      regions: z
        .array(z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/))
        .min(1)
        .max(32)
        .optional(),
      /**
       * Stripe billing. The two secrets come from the environment
       * (TRIBAL_MEMORY_STRIPE_SECRET_KEY, TRIBAL_MEMORY_STRIPE_WEBHOOK_SECRET), never the file.
       */
      billing: z
        .strictObject({
          stripe: z.strictObject({
            prices: z.strictObject({ pro: z.string().min(1), team: z.string().min(1) }),
            api_base: z.string().url().optional(),
          }),
        })
        .optional(),
    })
    .optional(),
});
export type ConfigFile = z.infer<typeof ConfigFile>;

/** What `relay init|start|migrate` read from the file: the `relay:` section, with the spec's `db`, `server` and `auth` keys mapped onto it. */
export type RelaySettings = NonNullable<ConfigFile["relay"]> & {
  /** false: start without migrating (db.migrate). */
  migrate?: boolean;
  /** false: single-tenant without API keys (auth.enabled). */
  auth_enabled?: boolean;
};

/**
 * The relay-specific keys win over the shared ones: `relay.port` over `server.port`,
 * `relay.database_url` over `db.uri`, so a file written before `db:` keeps its meaning.
 */
function relaySettings(file: ConfigFile): RelaySettings {
  const r = file.relay ?? {};
  const db = file.db;
  const pick = <T>(...values: (T | undefined)[]) => values.find((v) => v !== undefined);
  const settings: RelaySettings = {
    ...r,
    host: pick(r.host, file.server?.host),
    port: pick(r.port, file.server?.port),
    database_url: pick(r.database_url, db?.provider === "postgres" ? db.uri : undefined),
    admin_database_url: pick(r.admin_database_url, db?.admin_uri),
    data_dir: pick(r.data_dir, db?.provider === "pglite" ? db.uri : undefined),
    migrate: db?.migrate,
    auth_enabled: file.auth?.enabled,
  };
  return Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== undefined)) as RelaySettings;
}

export interface DaemonConfig {
  configPath: string;
  home: string;
  instanceId: string;
  dataDir: string;
  host: string;
  port: number;
  /** Who may call the daemon: see daemon/src/http/local-guard.ts. */
  access: { allowedHosts: string[]; allowedOrigins: string[]; requireToken: boolean };
  embedding: {
    provider: "auto" | "bge-small-en-v1.5" | "offline" | "glove" | "hashing" | "openai" | "none";
    modelDir: string;
    modelSha256: string | null;
    /** onnxruntime intra-op threads; null = the provider's default (one fewer than the cores, 1..2). */
    threads: number | null;
    /** provider openai (openai-embedder.ts): null fields take the embedder's defaults. */
    openai: {
      baseUrl: string | null;
      model: string | null;
      /** TRIBAL_MEMORY_EMBEDDING_API_KEY or OPENAI_API_KEY: a secret, never logged. */
      apiKey: string | null;
      dimensions: number | null;
      batchSize: number | null;
      timeoutMs: number | null;
      queryPrefix: string;
      passagePrefix: string;
    };
  };
  maxContentBytes: number;
  sync: {
    enabled: boolean;
    cloudUrl: string | null;
    apiKey: string | null;
    sessions: boolean;
    /** Plaintext to a relay off loopback is refused unless this is true (SYNC_INSECURE_URL). */
    allowInsecure: boolean;
    /** Periodic flush and liveness check (sync.interval); null = the sync client's default. */
    intervalMs: number | null;
  };
  sessions: { watch: boolean; folders: string[]; retentionDays: number };
  /** Secrets in content are replaced before storing and syncing (shared/src/memory/secret-redaction.ts). */
  redaction: { enabled: boolean };
  /** The relay's settings from the file (paths not yet expanded): see `relaySettings`. */
  relay: RelaySettings;
}

export interface ConfigOverrides {
  configPath?: string;
  dataDir?: string;
  port?: number;
  host?: string;
  requireToken?: boolean;
  embedding?: EmbeddingProviderName;
}

/**
 * Config precedence: flags > environment > config file > defaults. The file is
 * `~/.tribal-memory/config.yaml` unless TRIBAL_MEMORY_CONFIG or `--config` names another.
 */
export function loadDaemonConfig(
  overrides: ConfigOverrides = {},
  env: NodeJS.ProcessEnv = process.env,
): DaemonConfig {
  const home = tribalHome(env);
  const configPath = resolve(overrides.configPath ?? env.TRIBAL_MEMORY_CONFIG ?? join(home, "config.yaml"));
  const file: ConfigFile = existsSync(configPath)
    ? parseConfigText(configPath, readFileSync(configPath, "utf8"), ConfigFile)
    : {};
  const expand = (p: string) => resolve(p.replace(/^~(?=$|\/)/, homedir()));
  const port =
    overrides.port ??
    (env.TRIBAL_MEMORY_PORT ? Number(env.TRIBAL_MEMORY_PORT) : undefined) ??
    file.server?.port;
  return {
    configPath,
    home,
    instanceId: env.TRIBAL_MEMORY_INSTANCE_ID ?? file.instance_id ?? `tribalmemoryd@${hostname()}`,
    dataDir: expand(overrides.dataDir ?? env.TRIBAL_MEMORY_DATA_DIR ?? file.data_dir ?? join(home, "data")),
    host: overrides.host ?? file.server?.host ?? "127.0.0.1",
    access: {
      allowedHosts: file.server?.allowed_hosts ?? [],
      allowedOrigins: file.server?.allowed_origins ?? [],
      // Either key asks for the token; a file that says both ways gets the safer one.
      requireToken: overrides.requireToken ?? (file.server?.require_token || file.auth?.require_key || false),
    },
    port: port ?? DEFAULT_DAEMON_PORT,
    embedding: {
      provider: embeddingProvider(
        overrides.embedding ??
          envEmbeddingProvider(env.TRIBAL_MEMORY_EMBEDDING) ??
          file.embedding?.provider ??
          "auto",
      ),
      modelDir: expand(file.embedding?.model_dir ?? join(home, "models", "bge-small-en-v1.5")),
      modelSha256: file.embedding?.model_sha256 ?? null,
      threads: file.embedding?.threads ?? null,
      openai: {
        // `||`: compose files pass unset variables through as empty strings.
        baseUrl: env.TRIBAL_MEMORY_EMBEDDING_BASE_URL || file.embedding?.base_url || null,
        model: env.TRIBAL_MEMORY_EMBEDDING_MODEL || file.embedding?.model || null,
        apiKey: env.TRIBAL_MEMORY_EMBEDDING_API_KEY || env.OPENAI_API_KEY || null,
        dimensions: file.embedding?.dimensions ?? null,
        batchSize: file.embedding?.batch_size ?? null,
        timeoutMs: file.embedding?.timeout ? Math.round(file.embedding.timeout * 1000) : null,
        queryPrefix: file.embedding?.query_prefix ?? "",
        passagePrefix: file.embedding?.passage_prefix ?? "",
      },
    },
    maxContentBytes: file.limits?.max_content_bytes ?? 32 * 1024,
    sync: {
      enabled: file.sync?.enabled ?? Boolean(env.TRIBAL_MEMORY_CLOUD_URL),
      cloudUrl: env.TRIBAL_MEMORY_CLOUD_URL ?? file.sync?.cloud_url ?? null,
      apiKey: env.TRIBAL_MEMORY_API_KEY ?? file.sync?.api_key ?? null,
      sessions: file.sync?.sessions ?? false,
      allowInsecure: file.sync?.allow_insecure ?? false,
      intervalMs: file.sync?.interval ? file.sync.interval * 1000 : null,
    },
    sessions: {
      // A temporary TRIBAL_MEMORY_HOME (tests, sandboxes) does not follow the user's real
      // transcripts unless asked to.
      watch: env.TRIBAL_MEMORY_WATCH_SESSIONS
        ? env.TRIBAL_MEMORY_WATCH_SESSIONS !== "0"
        : (file.sessions?.watch ?? !env.TRIBAL_MEMORY_HOME),
      // HOME from the environment first, so a test's temporary HOME is honoured.
      folders: (file.sessions?.folders ?? ["~/.claude/projects", "~/.codex/sessions"]).map((f) =>
        resolve(f.replace(/^~(?=$|\/)/, env.HOME ?? homedir())),
      ),
      retentionDays: file.sessions?.retention_days ?? 90,
    },
    redaction: { enabled: file.redaction?.enabled ?? true },
    relay: relaySettings(file),
  };
}
