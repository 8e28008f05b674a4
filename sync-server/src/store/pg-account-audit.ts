/**
 * Audit rows for account events (signup, login, workspace, member, invitation and key
 * changes), written inside the caller's transaction, naming the user who acted (`user_id`,
 * migration 7).
 */
import type { Sql } from "./database.ts";

export interface AccountAuditEntry {
  workspaceId: string;
  userId: string | null;
  keyId?: string | null;
  action: string;
  target: string | null;
  details?: Record<string, unknown>;
}

/** One audit row in `e.workspaceId`; the transaction must be scoped to that workspace. */
export async function writeAccountAudit(sql: Sql, e: AccountAuditEntry): Promise<void> {
  await sql.query(
    "INSERT INTO audit_log (workspace_id, key_id, user_id, action, target, details) VALUES ($1, $2, $3, $4, $5, $6)",
    [
      e.workspaceId,
      e.keyId ?? null,
      e.userId,
      e.action,
      e.target,
      e.details && Object.keys(e.details).length ? JSON.stringify(e.details) : null,
    ],
  );
}

/** Scope the transaction to a user as well (row-level security's `tm_user()`). */
export async function scopeToUser(sql: Sql, userId: string): Promise<void> {
  await sql.query("SELECT set_config('app.user_id', $1, true)", [userId]);
}

/** Scope the transaction to another workspace (for rows written in several, e.g. a login's audit). */
export async function scopeToWorkspace(sql: Sql, workspaceId: string): Promise<void> {
  await sql.query("SELECT set_config('app.workspace_id', $1, true)", [workspaceId]);
}
