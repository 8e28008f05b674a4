/**
 * Workspaces and API keys in Postgres: creation, verification, listing, revocation. Every
 * statement runs under the workspace's row-level security, except the key lookup of
 * `tm_verify_api_key` (migration 4), which maps a hash to its workspace first.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { TribalError } from "@tribalmemory/shared/errors";
import {
  type AuthContext,
  type CreatedKey,
  hashApiKey,
  KEY_PREFIX,
  type KeyInfo,
  type Scope,
} from "../auth/api-keys.ts";
import type { RelayDatabase } from "./database.ts";
import { writeAccountAudit } from "./pg-account-audit.ts";
import { DEFAULT_REGION } from "./pg-regions.ts";
import { EVENTS_CHANNEL } from "./pg-store.ts";
import { refuseKeyOfDeletedWorkspace } from "./pg-tombstones.ts";

/**
 * A workspace and its owner. An email that already has a user makes that user the owner of
 * this new workspace too (a second `relay init --email` adds a workspace, it does not fail).
 */
export async function createWorkspace(
  db: RelayDatabase,
  options: {
    name: string;
    userName?: string;
    userEmail?: string | null;
    /** Where its data lives (migration 7); absent: the default region. */
    region?: string | null;
  },
): Promise<{ workspaceId: string; userId: string; existingUser: boolean }> {
  const workspaceId = randomUUID();
  // Stored lower-cased, as signup does (migration 5's unique index is on lower(email)).
  const email = options.userEmail?.trim().toLowerCase() || null;
  // Users are visible only through their workspaces' memberships (row-level security), so an
  // existing email is looked up with the owner's rights.
  const existing =
    email && db.asOwner
      ? ((
          await db.asOwner((sql) =>
            sql.query<{ id: string }>("SELECT id FROM users WHERE lower(email) = $1", [email]),
          )
        )[0]?.id ?? null)
      : null;
  const userId = existing ?? randomUUID();
  await db.tx(workspaceId, async (sql) => {
    await sql.query("INSERT INTO workspaces (id, name, region) VALUES ($1, $2, $3)", [
      workspaceId,
      options.name,
      options.region ?? DEFAULT_REGION,
    ]);
    if (!existing) {
      try {
        await sql.query("INSERT INTO users (id, email, name) VALUES ($1, $2, $3)", [
          userId,
          email,
          options.userName ?? "owner",
        ]);
      } catch (err) {
        if ((err as { code?: string }).code !== "23505") throw err;
        throw new TribalError(
          "CONFLICT",
          `A user with email ${email} already exists on this relay, and this connection cannot look it up (it has no owner rights): pass --admin-database-url, or another --email.`,
        );
      }
    }
    await sql.query("INSERT INTO memberships (workspace_id, user_id, role) VALUES ($1, $2, 'owner')", [
      workspaceId,
      userId,
    ]);
    await sql.query(
      "INSERT INTO audit_log (workspace_id, action, target) VALUES ($1::uuid, 'workspace.create', $1::text)",
      [workspaceId],
    );
  });
  return { workspaceId, userId, existingUser: existing !== null };
}

export async function createApiKey(
  db: RelayDatabase,
  workspaceId: string,
  options: { name: string; scopes: Scope[]; userId?: string | null; byKeyId?: string | null },
): Promise<CreatedKey> {
  const id = randomUUID();
  const key = `${KEY_PREFIX}${randomBytes(32).toString("base64url")}`;
  const prefix = key.slice(0, KEY_PREFIX.length + 8);
  const hash = hashApiKey(key);
  const scopes = [...new Set(options.scopes)].sort() as Scope[];
  const [row] = await db.tx(workspaceId, async (sql) => {
    const rows = await sql.query<{ created_at: Date | string }>(
      `INSERT INTO api_keys (id, workspace_id, user_id, created_by_key, name, prefix, key_hash, scopes)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING created_at`,
      [id, workspaceId, options.userId ?? null, options.byKeyId ?? null, options.name, prefix, hash, scopes],
    );
    await sql.query("INSERT INTO api_key_lookup (key_hash, key_id, workspace_id) VALUES ($1, $2, $3)", [
      hash,
      id,
      workspaceId,
    ]);
    await writeAccountAudit(sql, {
      workspaceId,
      userId: options.userId ?? null,
      keyId: options.byKeyId ?? null,
      action: "key.create",
      target: id,
      details: { name: options.name, scopes, prefix },
    });
    return rows;
  });
  return { id, key, prefix, name: options.name, scopes, created_at: iso(row.created_at) as string };
}

/**
 * Authenticate a Bearer token in one round trip (tm_verify_api_key, migration 4; it took ~6).
 * Revocation is read from the database on every call, not cached: it takes effect at once,
 * on every relay process.
 */
export async function verifyApiKey(
  db: RelayDatabase,
  token: string | null | undefined,
): Promise<AuthContext> {
  if (!token?.startsWith(KEY_PREFIX) || token.length > 200) {
    throw new TribalError(
      "UNAUTHENTICATED",
      "Send `Authorization: Bearer tm_live_…` with an API key of this relay.",
    );
  }
  const [key] = await db.statement<{
    key_id: string;
    workspace_id: string;
    user_id: string | null;
    scopes: Scope[];
    revoked_at: Date | string | null;
    last_used_at: Date | string | null;
  }>("SELECT key_id, workspace_id, user_id, scopes, revoked_at, last_used_at FROM tm_verify_api_key($1)", [
    hashApiKey(token),
  ]);
  // Only a refused key pays for the tombstone check (migration 7).
  if (!key || key.revoked_at) await refuseKeyOfDeletedWorkspace(db, hashApiKey(token));
  if (!key)
    throw new TribalError("UNAUTHENTICATED", "Unknown API key. Create one with `tribalmemory keys create`.");
  if (key.revoked_at) {
    throw new TribalError(
      "API_KEY_REVOKED",
      `API key revoked at ${iso(key.revoked_at)}; create a new one with \`tribalmemory keys create\`.`,
    );
  }
  noteKeyUse(db, key.key_id, key.workspace_id, key.last_used_at);
  return { keyId: key.key_id, userId: key.user_id, workspaceId: key.workspace_id, scopes: key.scopes };
}

/** Keys whose `last_used_at` this process has written, and when (ms). */
const lastUseWritten = new Map<string, number>();
const LAST_USED_RESOLUTION_MS = 60_000;

/**
 * `last_used_at` to the minute: written at most once a minute per key (it was an UPDATE per
 * request, each on the key's one row), off the request's path.
 */
function noteKeyUse(
  db: RelayDatabase,
  keyId: string,
  workspaceId: string,
  lastUsedAt: Date | string | null,
): void {
  const now = Date.now();
  const stored = lastUsedAt === null ? 0 : new Date(lastUsedAt).getTime();
  const written = Math.max(lastUseWritten.get(keyId) ?? 0, stored);
  if (now - written < LAST_USED_RESOLUTION_MS) return;
  lastUseWritten.set(keyId, now);
  if (lastUseWritten.size > 10_000) lastUseWritten.delete(lastUseWritten.keys().next().value as string);
  void db
    .tx(workspaceId, (sql) =>
      sql.query(
        "UPDATE api_keys SET last_used_at = now() WHERE workspace_id = $1 AND id = $2 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
        [workspaceId, keyId],
      ),
    )
    .catch(() => lastUseWritten.delete(keyId));
}

export async function listApiKeys(db: RelayDatabase, workspaceId: string): Promise<KeyInfo[]> {
  const rows = await db.tx(workspaceId, (sql) =>
    sql.query<{
      id: string;
      name: string;
      prefix: string;
      scopes: Scope[];
      created_at: Date;
      last_used_at: Date | null;
      revoked_at: Date | null;
      user_id: string | null;
      created_by_key: string | null;
    }>(
      "SELECT id, name, prefix, scopes, created_at, last_used_at, revoked_at, user_id, created_by_key FROM api_keys WHERE workspace_id = $1 ORDER BY created_at",
      [workspaceId],
    ),
  );
  return rows.map((r) => ({
    id: r.id,
    name: r.name,
    prefix: r.prefix,
    scopes: r.scopes,
    created_at: iso(r.created_at) as string,
    last_used_at: iso(r.last_used_at),
    revoked_at: iso(r.revoked_at),
    created_by: { user_id: r.user_id, key_id: r.created_by_key },
  }));
}

/** Which of `keyIds` are revoked (a relay that missed the NOTIFY re-checks its open sockets). */
export async function revokedKeyIds(
  db: RelayDatabase,
  workspaceId: string,
  keyIds: string[],
): Promise<string[]> {
  if (!keyIds.length) return [];
  const rows = await db.tx(workspaceId, (sql) =>
    sql.query<{ id: string }>(
      "SELECT id FROM api_keys WHERE workspace_id = $1 AND id = ANY($2::uuid[]) AND revoked_at IS NOT NULL",
      [workspaceId, keyIds],
    ),
  );
  return rows.map((r) => r.id);
}

/** Revoke a key of this workspace; open sockets using it are closed via NOTIFY. */
export async function revokeApiKey(
  db: RelayDatabase,
  workspaceId: string,
  keyId: string,
  byKeyId: string | null,
  byUserId: string | null = null,
): Promise<KeyInfo> {
  await db.tx(workspaceId, async (sql) => {
    // Row locks on the active admin keys: two revocations of the last two cannot both pass.
    const admins = await sql.query<{ id: string }>(
      "SELECT id FROM api_keys WHERE workspace_id = $1 AND revoked_at IS NULL AND 'admin' = ANY(scopes) FOR UPDATE",
      [workspaceId],
    );
    if (admins.length === 1 && admins[0].id === keyId) {
      throw new TribalError(
        "LAST_ADMIN_KEY",
        "This is the workspace's last admin key: revoking it would lock every admin out for good. Create another admin key first (`tribalmemory keys create --scopes admin`).",
        { key_id: keyId },
      );
    }
    const rows = await sql.query(
      "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE workspace_id = $1 AND id = $2 RETURNING id",
      [workspaceId, keyId],
    );
    if (!rows.length) throw new TribalError("KEY_NOT_FOUND", `No API key ${keyId} in this workspace.`);
    await writeAccountAudit(sql, {
      workspaceId,
      userId: byUserId,
      keyId: byKeyId,
      action: "key.revoke",
      target: keyId,
    });
    await sql.query("SELECT pg_notify($1, $2)", [EVENTS_CHANNEL, `r:${keyId}`]);
  });
  const info = (await listApiKeys(db, workspaceId)).find((k) => k.id === keyId);
  return info as KeyInfo;
}

function iso(v: Date | string | null): string | null {
  if (v === null) return null;
  return v instanceof Date ? v.toISOString() : new Date(v).toISOString();
}
