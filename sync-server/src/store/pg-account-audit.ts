/**
 * Audit rows for account events (signup, login, workspace, member, invitation and key
 * changes), written inside the caller's transaction. Migration 7 gives `audit_log` a
 * `user_id` column; on a schema without it the user goes into `details` instead, so these rows
 * say who acted either way.
 */
import type { RelayDatabase, Sql } from "./database.ts";

export interface AccountAuditEntry {
  workspaceId: string;
  userId: string | null;
  keyId?: string | null;
  action: string;
  target: string | null;
  details?: Record<string, unknown>;
}

const hasUserColumn = new WeakMap<RelayDatabase, Promise<boolean>>();

/** Whether `audit_log.user_id` exists (asked once per database handle). */
export function auditHasUserColumn(db: RelayDatabase): Promise<boolean> {
  let known = hasUserColumn.get(db);
  if (!known) {
    known = db
      .statement<{ n: number }>(
        "SELECT count(*)::int AS n FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'audit_log' AND column_name = 'user_id'",
      )
      .then((rows) => rows[0]?.n === 1);
    hasUserColumn.set(db, known);
  }
  return known;
}

/** One audit row in `e.workspaceId`; the transaction must be scoped to that workspace. */
export async function writeAccountAudit(
  sql: Sql,
  withUserColumn: boolean,
  e: AccountAuditEntry,
): Promise<void> {
  const details = { ...(e.details ?? {}), ...(withUserColumn || !e.userId ? {} : { user_id: e.userId }) };
  const detailsJson = Object.keys(details).length ? JSON.stringify(details) : null;
  if (withUserColumn) {
    await sql.query(
      "INSERT INTO audit_log (workspace_id, key_id, user_id, action, target, details) VALUES ($1, $2, $3, $4, $5, $6)",
      [e.workspaceId, e.keyId ?? null, e.userId, e.action, e.target, detailsJson],
    );
  } else {
    await sql.query(
      "INSERT INTO audit_log (workspace_id, key_id, action, target, details) VALUES ($1, $2, $3, $4, $5)",
      [e.workspaceId, e.keyId ?? null, e.action, e.target, detailsJson],
    );
  }
}

/** Scope the transaction to a user as well (row-level security's `tm_user()`). */
export async function scopeToUser(sql: Sql, userId: string): Promise<void> {
  await sql.query("SELECT set_config('app.user_id', $1, true)", [userId]);
}

/** Scope the transaction to another workspace (for rows written in several, e.g. a login's audit). */
export async function scopeToWorkspace(sql: Sql, workspaceId: string): Promise<void> {
  await sql.query("SELECT set_config('app.workspace_id', $1, true)", [workspaceId]);
}
