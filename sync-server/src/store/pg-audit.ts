import type { RelayDatabase } from "./database.ts";

/**
 * Reading a workspace's audit log (migration 7): who (key, user, device), what (action,
 * target, details), when. Rows are read newest first by id with keyset paging: a page is
 * "ids below the last one seen", so rows added meanwhile (with higher ids) never shift a page
 * or repeat a row. Under the workspace's row-level security like every tenant read.
 */

export interface AuditRow {
  id: number;
  at: string;
  key_id: string | null;
  user_id: string | null;
  device_id: string | null;
  action: string;
  target: string | null;
  details: Record<string, unknown> | null;
}

export interface AuditFilters {
  /** Exact action, or a prefix when it ends in `.` or `*` (`key.` and `key.*` match `key.create`). */
  action?: string;
  keyId?: string;
  userId?: string;
  deviceId?: string;
  /** Rows at or after / before this instant. */
  since?: Date;
  until?: Date;
  /** Rows by this user (or a key they made) or naming them as the target (a member's data export). */
  aboutUser?: string;
}

/** Rows of one page: newest first, ids below `beforeId` when given. */
export async function listAuditRows(
  db: RelayDatabase,
  workspaceId: string,
  filters: AuditFilters,
  page: { limit: number; beforeId: number | null },
): Promise<AuditRow[]> {
  const params: unknown[] = [workspaceId];
  const where = ["workspace_id = $1"];
  const add = (clause: (p: string) => string, value: unknown) => {
    params.push(value);
    where.push(clause(`$${params.length}`));
  };
  if (filters.action !== undefined) {
    const prefix = /[.*]$/.test(filters.action) ? filters.action.replace(/\*$/, "") : null;
    // LIKE with the prefix's own wildcards escaped: `key_` must not match `keyX`.
    if (prefix !== null) add((p) => `action LIKE ${p}`, `${prefix.replace(/[\\%_]/g, "\\$&")}%`);
    else add((p) => `action = ${p}`, filters.action);
  }
  if (filters.keyId) add((p) => `key_id = ${p}::uuid`, filters.keyId);
  if (filters.userId) add((p) => `user_id = ${p}::uuid`, filters.userId);
  if (filters.deviceId) add((p) => `device_id = ${p}`, filters.deviceId);
  if (filters.since) add((p) => `at >= ${p}`, filters.since.toISOString());
  if (filters.until) add((p) => `at < ${p}`, filters.until.toISOString());
  if (filters.aboutUser) {
    // By them (as a user, or through a key they made, before rows named users) or about them.
    add(
      (p) =>
        `(user_id = ${p}::uuid OR target = ${p}::text OR key_id IN (SELECT id FROM api_keys WHERE workspace_id = $1 AND user_id = ${p}::uuid))`,
      filters.aboutUser,
    );
  }
  if (page.beforeId !== null) add((p) => `id < ${p}`, page.beforeId);
  params.push(page.limit);
  const rows = await db.tx(workspaceId, (sql) =>
    sql.query<Omit<AuditRow, "at" | "id"> & { id: string | number; at: Date | string }>(
      `SELECT id, at, key_id, user_id, device_id, action, target, details FROM audit_log
       WHERE ${where.join(" AND ")} ORDER BY id DESC LIMIT $${params.length}`,
      params,
    ),
  );
  return rows.map((r) => ({
    ...r,
    id: Number(r.id),
    at: r.at instanceof Date ? r.at.toISOString() : new Date(r.at).toISOString(),
    details: typeof r.details === "string" ? (JSON.parse(r.details) as AuditRow["details"]) : r.details,
  }));
}

/** Rows per read when streaming: bounded memory whatever the log's size. */
const STREAM_PAGE = 1000;

/** Every row matching `filters`, newest first, read a page at a time (JSONL export). */
export async function* streamAuditRows(
  db: RelayDatabase,
  workspaceId: string,
  filters: AuditFilters,
): AsyncGenerator<AuditRow> {
  let beforeId: number | null = null;
  for (;;) {
    const rows = await listAuditRows(db, workspaceId, filters, { limit: STREAM_PAGE, beforeId });
    yield* rows;
    if (rows.length < STREAM_PAGE) return;
    beforeId = rows[rows.length - 1].id;
  }
}
