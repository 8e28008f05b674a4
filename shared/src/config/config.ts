import { existsSync, readFileSync } from "node:fs";
import { homedir, hostname } from "node:os";
import { join, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { TribalError } from "../errors.ts";
import { MAX_CONTENT_BYTES_CEILING } from "../memory/size-policy.ts";

export const DEFAULT_DAEMON_PORT = 18790;
export const DEFAULT_RELAY_PORT = 18800;

/** `~/.tribal-memory`, or TRIBAL_MEMORY_HOME when set (tests use temporary homes). */
export function tribalHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.TRIBAL_MEMORY_HOME ? resolve(env.TRIBAL_MEMORY_HOME) : join(homedir(), ".tribal-memory");
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
       * offline: USE-lite; glove: GloVe-SIF (faster to embed, weaker).
       */
      provider: z.enum(["auto", "bge-small-en-v1.5", "offline", "glove", "hashing", "none"]).optional(),
      model_dir: z.string().optional(),
      model_sha256: z
        .string()
        .regex(/^[0-9a-f]{64}$/)
        .optional(),
      threads: z.number().int().min(1).max(64).optional(),
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
      tls_cert: z.string().optional(),
      tls_key: z.string().optional(),
      behind_proxy: z.boolean().optional(),
      allow_rls_bypass: z.boolean().optional(),
    })
    .optional(),
});
export type ConfigFile = z.infer<typeof ConfigFile>;

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
    provider: "auto" | "bge-small-en-v1.5" | "offline" | "glove" | "hashing" | "none";
    modelDir: string;
    modelSha256: string | null;
    /** onnxruntime intra-op threads; null = the provider's default (one fewer than the cores, 1..2). */
    threads: number | null;
  };
  maxContentBytes: number;
  sync: {
    enabled: boolean;
    cloudUrl: string | null;
    apiKey: string | null;
    sessions: boolean;
    /** Plaintext to a relay off loopback is refused unless this is true (SYNC_INSECURE_URL). */
    allowInsecure: boolean;
  };
  sessions: { watch: boolean; folders: string[]; retentionDays: number };
  /** Secrets in content are replaced before storing and syncing (shared/src/memory/secret-redaction.ts). */
  redaction: { enabled: boolean };
  /** The config file's `relay:` section as written (paths not yet expanded). */
  relay: NonNullable<ConfigFile["relay"]>;
}

export interface ConfigOverrides {
  configPath?: string;
  dataDir?: string;
  port?: number;
  host?: string;
  requireToken?: boolean;
  embedding?: DaemonConfig["embedding"]["provider"];
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
  let file: ConfigFile = {};
  if (existsSync(configPath)) {
    let raw: unknown;
    try {
      raw = parseYaml(readFileSync(configPath, "utf8")) ?? {};
    } catch (err) {
      throw new TribalError(
        "VALIDATION_FAILED",
        `Config ${configPath} is not valid YAML: ${(err as Error).message}`,
      );
    }
    const parsed = ConfigFile.safeParse(raw);
    if (!parsed.success) {
      const i = parsed.error.issues[0];
      throw new TribalError("VALIDATION_FAILED", `Config ${configPath}: ${i.path.join(".")}: ${i.message}`);
    }
    file = parsed.data;
  }
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
      requireToken: overrides.requireToken ?? file.server?.require_token ?? false,
    },
    port: port ?? DEFAULT_DAEMON_PORT,
    embedding: {
      provider:
        overrides.embedding ??
        (env.TRIBAL_MEMORY_EMBEDDING as DaemonConfig["embedding"]["provider"] | undefined) ??
        file.embedding?.provider ??
        "auto",
      modelDir: expand(file.embedding?.model_dir ?? join(home, "models", "bge-small-en-v1.5")),
      modelSha256: file.embedding?.model_sha256 ?? null,
      threads: file.embedding?.threads ?? null,
    },
    maxContentBytes: file.limits?.max_content_bytes ?? 32 * 1024,
    sync: {
      enabled: file.sync?.enabled ?? Boolean(env.TRIBAL_MEMORY_CLOUD_URL),
      cloudUrl: env.TRIBAL_MEMORY_CLOUD_URL ?? file.sync?.cloud_url ?? null,
      apiKey: env.TRIBAL_MEMORY_API_KEY ?? file.sync?.api_key ?? null,
      sessions: file.sync?.sessions ?? false,
      allowInsecure: file.sync?.allow_insecure ?? false,
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
    relay: file.relay ?? {},
  };
}
