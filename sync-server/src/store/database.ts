import { mkdirSync } from "node:fs";
import { TribalError } from "@tribalmemory/shared/errors";
import pg from "pg";
import { APP_ROLE_EMBEDDED, migrate } from "./migrations.ts";

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
  /** Subscribe to a NOTIFY channel; returns the unsubscribe function. */
  listen(channel: string, onPayload: (payload: string) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  /** The app's connection (a role without superuser/BYPASSRLS). Absent → PGlite in `dataDir`. */
  databaseUrl?: string | null;
  /** Connection that runs migrations (owner/superuser); defaults to databaseUrl. */
  adminDatabaseUrl?: string | null;
  /** PGlite data folder; absent with no URL → in-memory (tests). */
  dataDir?: string | null;
  poolSize?: number;
  /** Skip migrations (another process runs them). */
  migrate?: boolean;
}

const SCOPE_SQL = "SELECT set_config('app.workspace_id', $1, true)";

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
  if (options.migrate !== false) {
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    try {
      const appRole = new URL(url).username || null;
      const adminRole = new URL(adminUrl).username || null;
      await migrate(
        { query: async (text, params) => (await admin.query(text, params as unknown[])).rows },
        { appRole: appRole && appRole !== adminRole ? decodeURIComponent(appRole) : null },
      );
    } finally {
      await admin.end();
    }
  }
  const pool = new pg.Pool({ connectionString: url, max: options.poolSize ?? 10 });
  // Filtered HNSW scans return fewer rows than asked without iterative scans (measured 4 of 10).
  pool.on("connect", (client) => {
    client.query("SET hnsw.iterative_scan = relaxed_order").catch(() => undefined);
  });
  pool.on("error", () => undefined);
  const listeners = new Map<string, Set<(p: string) => void>>();
  let listenClient: pg.Client | null = null;
  const ensureListener = async (): Promise<pg.Client> => {
    if (listenClient) return listenClient;
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    c.on("notification", (n) => {
      for (const cb of listeners.get(n.channel) ?? []) cb(n.payload ?? "");
    });
    c.on("error", () => undefined);
    listenClient = c;
    return c;
  };
  return {
    kind: "postgres",
    async tx(workspaceId, fn) {
      const client = await pool.connect();
      const sql: Sql = {
        query: async (text, params) => (await client.query(text, params as unknown[])).rows,
      };
      try {
        await client.query("BEGIN");
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
    },
    async listen(channel, onPayload) {
      const c = await ensureListener();
      let set = listeners.get(channel);
      if (!set) {
        set = new Set();
        listeners.set(channel, set);
        await c.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
      }
      set.add(onPayload);
      return async () => {
        set?.delete(onPayload);
      };
    },
    async close() {
      await listenClient?.end().catch(() => undefined);
      await pool.end();
    },
  };
}

async function openPglite(dataDir: string | null): Promise<RelayDatabase> {
  const { PGlite } = await import("@electric-sql/pglite");
  const { vector } = await import("@electric-sql/pglite-pgvector");
  if (dataDir) mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const db = await PGlite.create({ ...(dataDir ? { dataDir } : {}), extensions: { vector } });
  await migrate(
    {
      // Extended protocol (query) takes one statement; migrations are scripts, so they use exec.
      query: async (text, params) =>
        params?.length
          ? (await db.query(text, params as unknown[])).rows
          : ((await db.exec(text)).at(-1)?.rows ?? []),
    },
    { appRole: APP_ROLE_EMBEDDED },
  );
  // PGlite runs as a superuser, which skips row-level security: drop to the app role so the
  // embedded relay is scoped exactly like a production one.
  await db.exec(`SET ROLE ${APP_ROLE_EMBEDDED}; SET hnsw.iterative_scan = relaxed_order;`);
  return {
    kind: "pglite",
    async tx(workspaceId, fn) {
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
    },
    async listen(channel, onPayload) {
      const off = await db.listen(channel, onPayload);
      return async () => {
        await off();
      };
    },
    async close() {
      await db.close();
    },
  };
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
