import { TribalError } from "@tribalmemory/shared/errors";
import { type FolderLock, lockFolder } from "@tribalmemory/shared/store/folder-lock";
import pg from "pg";
import { ensureVectorIndexes } from "./migrations/v11-vector-dims.ts";
import { APP_ROLE_EMBEDDED, MIGRATION_VERSIONS, migrate } from "./migrations.ts";
import { NotifyListener } from "./notify-listener.ts";

/** One statement runner inside a transaction. */
export interface Sql {
  query<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
}

/**
 * The relay's database: real PostgreSQL (a pool, connecting as a role without BYPASSRLS) or
 * PGlite (embedded, one connection). Every tenant query runs in `tx(workspaceId, …)`, which
 * sets `app.workspace_id` for that transaction only, so row-level security scopes it.
 */
export interface RelayDatabase {
  readonly kind: "postgres" | "pglite";
  tx<T>(workspaceId: string | null, fn: (sql: Sql) => Promise<T>): Promise<T>;
  /**
   * A READ ONLY transaction for recall's searches, scoped like `tx`: on the read replica when
   * `readDatabaseUrl` names one, else on the primary. A replica lags its primary, so a search
   * there may miss a memory written in the last moments; the rows a recall returns are then read
   * from the primary (getMany), so none deleted or edited since is shown as it was.
   */
  readTx<T>(workspaceId: string, fn: (sql: Sql) => Promise<T>): Promise<T>;
  /**
   * One statement in a transaction of its own, with no workspace set: one round trip where
   * `tx` takes four (BEGIN, scope, statement, COMMIT). For the per-request functions of
   * migration 4, which scope themselves.
   */
  statement<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
  /**
   * Subscribe to a NOTIFY channel; returns the unsubscribe function. After a lost connection
   * comes back, subscribers get RESYNC_PAYLOAD: re-read whatever they follow.
   */
  listen(channel: string, onPayload: (payload: string) => void): Promise<() => Promise<void>>;
  /**
   * A transaction with the owner's rights (row-level security off), for operator commands
   * such as `relay init` finding an existing user by email. Absent when the relay only has the
   * app role's connection.
   */
  asOwner?<T>(fn: (sql: Sql) => Promise<T>): Promise<T>;
  /**
   * After a purge: rewrite `tables` so no file holds the deleted rows' bytes (a DELETE only
   * marks tuples dead; even VACUUM leaves their bytes in page free space), then checkpoint.
   * See `scrubStatements` for what each backend can and cannot remove.
   */
  scrubDeleted(tables: string[]): Promise<void>;
  /** The connection pool's counts, for the metrics; absent on PGlite (one connection). */
  poolStats?(): { total: number; idle: number; waiting: number };
  close(): Promise<void>;
}

/**
 * The purge step. VACUUM FULL writes each table and its indexes (GIN, HNSW, TOAST) to new
 * files and unlinks the old ones; it holds an ACCESS EXCLUSIVE lock on each table meanwhile,
 * for every workspace. On PGlite the checkpointer runs in this backend, so `wal_recycle = off`
 * plus a WAL switch and a second checkpoint delete the segment that logged the rows (a
 * recycled segment is only renamed, bytes and all). A Postgres server's checkpointer is
 * another process that ignores session settings: its old WAL segments (and any archive or
 * replica) keep the purged bytes until they are recycled and overwritten.
 */
export function scrubStatements(kind: "postgres" | "pglite", tables: string[]): string[] {
  const vacuums = tables.map((t) => `VACUUM FULL ${pg.escapeIdentifier(t)}`);
  return kind === "pglite"
    ? [
        "RESET ROLE",
        ...vacuums,
        "SET wal_recycle = off",
        "CHECKPOINT",
        "SELECT pg_switch_wal()",
        "CHECKPOINT",
      ]
    : [...vacuums, "CHECKPOINT"];
}

/** A simple-protocol Query message ('Q', length, text, NUL): PGlite's execProtocol takes bytes. */
function simpleQuery(text: string): Uint8Array {
  const body = Buffer.from(`${text}\0`, "utf8");
  const msg = new Uint8Array(5 + body.length);
  msg[0] = 0x51;
  new DataView(msg.buffer).setInt32(1, 4 + body.length);
  msg.set(body, 5);
  return msg;
}

export interface OpenDatabaseOptions {
  /** The app's connection (a role without superuser/BYPASSRLS). Absent → PGlite in `dataDir`. */
  databaseUrl?: string | null;
  /** Connection that runs migrations (owner/superuser); defaults to databaseUrl. */
  adminDatabaseUrl?: string | null;
  /**
   * A read replica (or any URL of the same data) for recall's searches: keyword, vector and
   * term counts. Everything else, writes included, uses databaseUrl. PostgreSQL only.
   */
  readDatabaseUrl?: string | null;
  /** PGlite data folder; absent with no URL → in-memory (tests). */
  dataDir?: string | null;
  poolSize?: number;
  /**
   * false: run no migrations (`relay migrate` does, as the owner) and refuse with
   * SCHEMA_OUTDATED a schema older than this build. PostgreSQL only: an embedded PGlite folder
   * has no other owner, so whoever opens it migrates it.
   */
  migrate?: boolean;
}

/** What a migration run did: versions applied now, and every version the schema holds after it. */
export interface MigrationReport {
  applied: number[];
  versions: number[];
}

/**
 * `relay migrate`: bring the schema to this build's version and nothing else (no pool, no app
 * connection), as the owner (`adminDatabaseUrl`), granting the app role of `databaseUrl` its
 * rights; or migrate a PGlite folder. Idempotent: a second run applies nothing.
 */
export async function migrateSchema(options: OpenDatabaseOptions): Promise<MigrationReport> {
  const adminUrl = options.adminDatabaseUrl ?? options.databaseUrl;
  if (adminUrl) return migratePostgres(options.databaseUrl ?? adminUrl, adminUrl);
  let report: MigrationReport = { applied: [], versions: [] };
  const db = await openPglite(options.dataDir ?? null, (r) => {
    report = r;
  });
  await db.close();
  return report;
}

/** The versions `schema_migrations` holds; none when the schema was never migrated. */
async function schemaVersions(
  query: (text: string) => Promise<{ version: number | string }[]>,
): Promise<number[]> {
  try {
    const rows = await query("SELECT version FROM schema_migrations ORDER BY version");
    return rows.map((r) => Number(r.version));
  } catch (err) {
    if ((err as { code?: string }).code === "42P01") return []; // undefined_table
    throw err;
  }
}

/** Migrations as the owner on a short connection; the app role (`url`'s user) gets its grants. */
async function migratePostgres(url: string, adminUrl: string): Promise<MigrationReport> {
  const admin = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
  await admin.connect().catch((err) => {
    throw unreachable(adminUrl, err, adminUrl === url ? "--database-url" : "--admin-database-url");
  });
  try {
    const query = async (text: string, params?: unknown[]) => (await admin.query(text, params)).rows;
    const before = await schemaVersions(query);
    const appRole = new URL(url).username || null;
    const adminRole = new URL(adminUrl).username || null;
    await migrate(
      { query },
      { appRole: appRole && appRole !== adminRole ? decodeURIComponent(appRole) : null },
    );
    // After the migrations' transaction: CONCURRENTLY cannot run inside one.
    await ensureVectorIndexes({ query }, "postgres");
    const versions = await schemaVersions(query);
    return { applied: versions.filter((v) => !before.includes(v)), versions };
  } finally {
    await admin.end();
  }
}

/** With migrations off: the app role must find every version this build expects. */
async function assertSchemaCurrent(pool: pg.Pool): Promise<void> {
  let have: number[];
  try {
    have = await schemaVersions(async (text) => (await pool.query(text)).rows);
  } catch (err) {
    if ((err as { code?: string }).code !== "42501") throw err;
    throw new TribalError(
      "SCHEMA_OUTDATED",
      "This database role cannot read schema_migrations: it never got the app role's grants. Run `tribalmemory relay migrate --admin-database-url <owner URL> --database-url <this URL>` first.",
      { missing: [...MIGRATION_VERSIONS] },
    );
  }
  const missing = MIGRATION_VERSIONS.filter((v) => !have.includes(v));
  if (missing.length) {
    throw new TribalError(
      "SCHEMA_OUTDATED",
      `The database schema lacks migration${missing.length === 1 ? "" : "s"} ${missing.join(", ")} of this build (it has ${have.length ? have.join(", ") : "none"}) and migrations are off (--no-migrate, db.migrate: false). Run \`tribalmemory relay migrate --admin-database-url <owner URL>\` first.`,
      { missing, have },
    );
  }
}

const SCOPE_SQL = "SELECT set_config('app.workspace_id', $1, true)";
/** Connecting to an unreachable host gives up after this, with DATABASE_UNREACHABLE. */
const CONNECT_TIMEOUT_MS = 10_000;

export async function openDatabase(options: OpenDatabaseOptions): Promise<RelayDatabase> {
  if (options.databaseUrl)
    return openPostgres(options.databaseUrl, options.adminDatabaseUrl ?? options.databaseUrl, options);
  return openPglite(options.dataDir ?? null);
}

async function openPostgres(
  url: string,
  adminUrl: string,
  options: OpenDatabaseOptions,
): Promise<RelayDatabase> {
  if (options.migrate !== false) await migratePostgres(url, adminUrl);
  const pool = new pg.Pool({
    connectionString: url,
    max: options.poolSize ?? 10,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
  });
  // Fail at open, with one line, rather than at the first request with a stack.
  await pool.query("SELECT 1").catch(async (err) => {
    await pool.end().catch(() => undefined);
    throw unreachable(url, err, "--database-url");
  });
  if (options.migrate === false) {
    await assertSchemaCurrent(pool).catch(async (err) => {
      await pool.end().catch(() => undefined);
      throw err;
    });
  }
  // Filtered HNSW scans return fewer rows than asked without iterative scans (measured 4 of 10).
  // The checks above opened the pool's first connection before this hook existed: it is the one
  // idle connection now, so this statement sets it (it used to serve every quiet-time search
  // without the setting).
  await pool.query("SET hnsw.iterative_scan = relaxed_order").catch(() => undefined);
  pool.on("connect", (client) => {
    client.query("SET hnsw.iterative_scan = relaxed_order").catch(() => undefined);
  });
  pool.on("error", () => undefined);
  const readPool = options.readDatabaseUrl
    ? await openReadPool(options.readDatabaseUrl, pool, options)
    : null;
  const notifications = new NotifyListener({ url, connectTimeoutMs: CONNECT_TIMEOUT_MS });
  /** A short-lived connection as the owner (admin URL), for operator steps RLS must not scope. */
  const withAdminClient = async <T>(fn: (admin: pg.Client) => Promise<T>): Promise<T> => {
    const admin = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
    await admin.connect().catch((err) => {
      throw unreachable(adminUrl, err, "--admin-database-url");
    });
    try {
      return await fn(admin);
    } catch (err) {
      throw mapPgError(err);
    } finally {
      await admin.end().catch(() => undefined);
    }
  };
  const txOn = async <T>(
    on: pg.Pool,
    begin: string,
    workspaceId: string | null,
    fn: (sql: Sql) => Promise<T>,
  ): Promise<T> => {
    const client = await on.connect();
    const sql: Sql = {
      query: async (text, params) => (await client.query(text, params as unknown[])).rows,
    };
    try {
      await client.query(begin);
      if (workspaceId) await client.query(SCOPE_SQL, [workspaceId]);
      const result = await fn(sql);
      await client.query("COMMIT");
      return result;
    } catch (err) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw mapPgError(err);
    } finally {
      client.release();
    }
  };
  return {
    kind: "postgres",
    tx: (workspaceId, fn) => txOn(pool, "BEGIN", workspaceId, fn),
    readTx: (workspaceId, fn) => txOn(readPool ?? pool, "BEGIN READ ONLY", workspaceId, fn),
    async statement(text, params) {
      try {
        return (await pool.query(text, params as unknown[])).rows;
      } catch (err) {
        throw mapPgError(err);
      }
    },
    async listen(channel, onPayload) {
      const off = await notifications.subscribe(channel, onPayload);
      return async () => off();
    },
    ...(adminUrl !== url
      ? {
          asOwner: <T>(fn: (sql: Sql) => Promise<T>): Promise<T> =>
            withAdminClient(async (admin) => {
              await admin.query("BEGIN");
              try {
                const result = await fn({
                  query: async (text, params) => (await admin.query(text, params as unknown[])).rows,
                });
                await admin.query("COMMIT");
                return result;
              } catch (err) {
                await admin.query("ROLLBACK").catch(() => undefined);
                throw err;
              }
            }),
        }
      : {}),
    async scrubDeleted(tables) {
      // VACUUM needs the tables' owner and CHECKPOINT pg_checkpoint: the admin connection.
      await withAdminClient(async (admin) => {
        for (const statement of scrubStatements("postgres", tables)) await admin.query(statement);
      });
    },
    poolStats: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
    async close() {
      await notifications.close();
      await Promise.all([pool.end(), readPool?.end()]);
    },
  };
}

async function openPglite(
  dataDir: string | null,
  onMigrated?: (report: MigrationReport) => void,
): Promise<RelayDatabase> {
  const { PGlite } = await import("@electric-sql/pglite");
  const { vector } = await import("@electric-sql/pglite-pgvector");
  // PGlite is one process per folder but does not enforce it: a second opener's writes and the
  // first one's interleave, and an acknowledged write is lost. The OS lock refuses it.
  const lock: FolderLock | null = dataDir
    ? lockFolder(dataDir, {
        name: "relay",
        holder: "relay",
        hint: "Stop it first (`relay init` needs the folder too), or run several relays on PostgreSQL (--database-url).",
      })
    : null;
  const db = await PGlite.create({ ...(dataDir ? { dataDir } : {}), extensions: { vector } }).catch((err) => {
    lock?.release();
    throw err;
  });
  // Extended protocol (query) takes one statement; migrations are scripts, so they use exec.
  const query = async (text: string, params?: unknown[]) =>
    params?.length ? (await db.query(text, params)).rows : ((await db.exec(text)).at(-1)?.rows ?? []);
  const before = onMigrated ? await schemaVersions(query as never) : [];
  await migrate({ query }, { appRole: APP_ROLE_EMBEDDED });
  await ensureVectorIndexes({ query }, "pglite");
  if (onMigrated) {
    const versions = await schemaVersions(query as never);
    onMigrated({ applied: versions.filter((v) => !before.includes(v)), versions });
  }
  // PGlite runs as a superuser, which skips row-level security: drop to the app role so the
  // embedded relay is scoped exactly like a production one.
  await db.exec(`SET ROLE ${APP_ROLE_EMBEDDED}; SET hnsw.iterative_scan = relaxed_order;`);
  const tx = async <T>(workspaceId: string | null, fn: (sql: Sql) => Promise<T>): Promise<T> => {
    try {
      return await db.transaction(async (t) => {
        const sql: Sql = {
          query: async (text, params) => (await t.query(text, params as unknown[])).rows as never[],
        };
        if (workspaceId) await t.query(SCOPE_SQL, [workspaceId]);
        return fn(sql);
      });
    } catch (err) {
      throw mapPgError(err);
    }
  };
  return {
    kind: "pglite",
    tx,
    // One connection: no replica to read from.
    readTx: tx,
    statement(text, params) {
      // In a transaction of PGlite's: its one connection may be inside another caller's.
      return tx(null, (sql) => sql.query(text, params));
    },
    async listen(channel, onPayload) {
      const off = await db.listen(channel, onPayload);
      return async () => {
        await off();
      };
    },
    async asOwner(fn) {
      try {
        return await db.transaction(async (t) => {
          // The session user is PGlite's superuser; the app role is only SET for the session.
          await t.query("SET LOCAL ROLE NONE");
          return fn({
            query: async (text, params) => (await t.query(text, params as unknown[])).rows as never[],
          });
        });
      } catch (err) {
        throw mapPgError(err);
      }
    },
    async scrubDeleted(tables) {
      // VACUUM cannot run in a transaction, and the superuser's rights are needed: hold both of
      // PGlite's locks so no other query runs (as superuser, past RLS) until the role is back.
      await db._runExclusiveTransaction(() =>
        db.runExclusive(async () => {
          try {
            for (const statement of scrubStatements("pglite", tables)) {
              await db.execProtocol(simpleQuery(statement), { throwOnError: true });
            }
          } finally {
            await db.execProtocol(simpleQuery(`SET ROLE ${APP_ROLE_EMBEDDED}`), { throwOnError: true });
          }
        }),
      );
    },
    async close() {
      try {
        await db.close();
      } finally {
        lock?.release();
      }
    },
  };
}

/**
 * The read replica's pool, checked at open: it answers, and its role skips row-level security
 * only where the primary's does too (a replica must not read with fewer guards).
 */
async function openReadPool(url: string, primary: pg.Pool, options: OpenDatabaseOptions): Promise<pg.Pool> {
  const roleSql =
    "SELECT rolname AS name, rolsuper OR rolbypassrls AS bypass FROM pg_roles WHERE rolname = current_user";
  // A client of its own for the check: the pool's connect hook would run beside it.
  const probe = new pg.Client({ connectionString: url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
  try {
    const [read] = (
      await probe
        .connect()
        .then(() => probe.query(roleSql))
        .catch((err) => {
          throw unreachable(url, err, "--read-database-url");
        })
    ).rows as { name: string; bypass: boolean }[];
    const [app] = (await primary.query(roleSql)).rows as { name: string; bypass: boolean }[];
    if (read.bypass && !app.bypass) {
      throw new TribalError(
        "VALIDATION_FAILED",
        `The read replica's role ${read.name} is a superuser or BYPASSRLS, while the app role ${app.name} is not: connect to the replica as the app role (--read-database-url).`,
      );
    }
  } catch (err) {
    await primary.end().catch(() => undefined);
    throw err;
  } finally {
    await probe.end().catch(() => undefined);
  }
  const readPool = new pg.Pool({
    connectionString: url,
    max: options.poolSize ?? 10,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
  });
  readPool.on("connect", (client) => {
    client.query("SET hnsw.iterative_scan = relaxed_order").catch(() => undefined);
  });
  readPool.on("error", () => undefined);
  return readPool;
}

/** The role the app connection runs as, and whether row-level security applies to it. */
export async function appRole(
  db: RelayDatabase,
): Promise<{ name: string; superuser: boolean; bypassRls: boolean }> {
  const [row] = await db.tx(null, (sql) =>
    sql.query<{ name: string; rolsuper: boolean; rolbypassrls: boolean }>(
      "SELECT current_user AS name, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user",
    ),
  );
  return { name: row.name, superuser: row.rolsuper, bypassRls: row.rolbypassrls };
}

const UNREACHABLE_CODES = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ECONNRESET",
  "28P01", // invalid_password
  "28000", // invalid_authorization_specification (no such role, pg_hba refusal)
  "3D000", // invalid_catalog_name: no such database
  "57P03", // cannot_connect_now: starting up or shutting down
]);

/** A connection failure as one actionable line, with the password left out of the URL. */
function unreachable(url: string, err: unknown, flag: string): unknown {
  const code = (err as { code?: string }).code ?? "";
  // A refused `localhost` (tried on ::1 and 127.0.0.1) is an AggregateError with no message.
  const message = (err as Error).message || code || String(err);
  if (!UNREACHABLE_CODES.has(code) && !/timeout|terminated/i.test(message)) return err;
  let where = "the database URL";
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    where = u.toString();
  } catch {
    // not a URL: keep the generic name
  }
  return new TribalError(
    "DATABASE_UNREACHABLE",
    `Cannot connect to PostgreSQL at ${where}: ${message}${code && !message.includes(code) ? ` (${code})` : ""}. Check ${flag} and that the server is running and accepts this user.`,
    { code },
  );
}

function mapPgError(err: unknown): unknown {
  if (err instanceof TribalError) return err;
  const code = (err as { code?: string }).code;
  if (code === "42501") {
    // insufficient_privilege: an RLS WITH CHECK failure means a write aimed at another workspace.
    return new TribalError("FORBIDDEN", "This key's workspace cannot write that row.");
  }
  return err;
}
