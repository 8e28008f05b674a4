import type { RelayDatabase } from "./database.ts";

/**
 * Where a workspace's data lives (`workspaces.region`, migration 7). Set at creation and never
 * changed here, so a relay process may cache it for good.
 */

/** The region of workspaces created without one, and of those older than regions (migration 7). */
export const DEFAULT_REGION = "default";

/** A region name: lowercase letters, digits and dashes (`eu`, `us-east`). */
export const REGION_PATTERN = /^[a-z][a-z0-9-]{0,31}$/;

/** The workspace's region, or null when there is no such workspace. */
export async function workspaceRegion(db: RelayDatabase, workspaceId: string): Promise<string | null> {
  const [row] = await db.tx(workspaceId, (sql) =>
    sql.query<{ region: string }>("SELECT region FROM workspaces WHERE id = $1", [workspaceId]),
  );
  return row?.region ?? null;
}
