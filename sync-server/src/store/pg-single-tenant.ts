/**
 * The one workspace of a relay started with `auth.enabled: false` (loopback only), and the key
 * its keyless requests act as. A real key row, so audit rows, devices and request records name
 * a key like any other request's; its secret is never shown (keyless callers need none).
 */
import type { AuthContext } from "../auth/api-keys.ts";
import type { RelayDatabase } from "./database.ts";
import { createApiKey, createWorkspace } from "./pg-keys.ts";

const SINGLE_TENANT_KEY = "single-tenant (auth.enabled: false)";

/**
 * The workspace that already has the single-tenant key, else the oldest one with any key (the
 * one `relay init` made), else a new "default" workspace. Workspaces are found through the key
 * lookup table, the one table the app role reads without a workspace (row-level security
 * hides `workspaces` itself); a single-tenant relay holds a handful, so one query each is fine.
 */
export async function ensureSingleTenant(db: RelayDatabase): Promise<AuthContext> {
  const known = await db.tx(null, (sql) =>
    sql.query<{ workspace_id: string }>("SELECT DISTINCT workspace_id FROM api_key_lookup"),
  );
  const candidates = await Promise.all(
    known.map(({ workspace_id }) =>
      db.tx(workspace_id, async (sql) => {
        const [w] = await sql.query<{ created_at: Date | string }>(
          "SELECT created_at FROM workspaces WHERE id = $1",
          [workspace_id],
        );
        const [key] = await sql.query<{ id: string }>(
          "SELECT id FROM api_keys WHERE workspace_id = $1 AND name = $2 AND revoked_at IS NULL ORDER BY created_at LIMIT 1",
          [workspace_id, SINGLE_TENANT_KEY],
        );
        return {
          workspaceId: workspace_id,
          createdAt: w ? new Date(w.created_at).getTime() : null,
          keyId: key?.id ?? null,
        };
      }),
    ),
  );
  const withKey = candidates.find((c) => c.keyId);
  if (withKey?.keyId) return actingAs(withKey.keyId, withKey.workspaceId);
  const oldest = candidates
    .filter((c) => c.createdAt !== null)
    .sort((a, b) => (a.createdAt as number) - (b.createdAt as number))[0];
  const workspaceId = oldest?.workspaceId ?? (await createWorkspace(db, { name: "default" })).workspaceId;
  const key = await createApiKey(db, workspaceId, { name: SINGLE_TENANT_KEY, scopes: ["admin"] });
  return actingAs(key.id, workspaceId);
}

/** The key's context: an admin of the workspace, made by no user. */
function actingAs(keyId: string, workspaceId: string): AuthContext {
  const context = { keyId, userId: null, workspaceId, scopes: ["admin" as const] };
  return context;
}
