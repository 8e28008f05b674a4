/**
 * Where each relay table lives when one PostgreSQL is not enough and the relay runs on Citus
 * (README "Scaling the relay"). Every table of the schema is named here, and
 * `test/relay/citus-readiness.test.ts` fails on one that is not, so a new table is placed on
 * purpose:
 *
 * - **distributed** by its tenant column, all in one co-location group with `workspaces`
 *   (distributed by `id`): a workspace's rows of every table sit on one node, so each request
 *   (always about one workspace) runs on that node alone, joins and foreign keys included.
 *   Their primary keys and unique constraints include the column (migration 13), and the
 *   relay's statements name it (the test checks both).
 * - **reference**: small, global tables read before a workspace is known (a key's hash, a
 *   login) or shared by every workspace (users); Citus copies them to every node.
 * - **local**: stays on the coordinator only.
 */

export type TablePlacement =
  | { kind: "distributed"; column: string }
  | { kind: "reference"; why: string }
  | { kind: "local"; why: string };

const byWorkspace = { kind: "distributed", column: "workspace_id" } as const;

export const TABLE_PLACEMENT: Readonly<Record<string, TablePlacement>> = {
  workspaces: { kind: "distributed", column: "id" },
  memberships: byWorkspace,
  api_keys: byWorkspace,
  devices: byWorkspace,
  changes: byWorkspace,
  purged_docs: byWorkspace,
  memories: byWorkspace,
  entities: byWorkspace,
  memory_entities: byWorkspace,
  entity_aliases: byWorkspace,
  memory_event_dates: byWorkspace,
  audit_log: byWorkspace,
  usage: byWorkspace,
  usage_days: byWorkspace,
  session_log_heads: byWorkspace,
  sessions: byWorkspace,
  session_messages: byWorkspace,
  session_chunks: byWorkspace,
  invitations: byWorkspace,
  workspace_deletion_requests: byWorkspace,
  plan_history: byWorkspace,
  invoices: byWorkspace,
  agents: byWorkspace,
  expiry_schedule: byWorkspace,
  users: {
    kind: "reference",
    why: "a user belongs to many workspaces; memberships (distributed) point at it",
  },
  login_sessions: {
    kind: "reference",
    why: "a user's login, found by its token's hash before any workspace",
  },
  api_key_lookup: {
    kind: "reference",
    why: "a key's hash → its workspace, read before the workspace is known",
  },
  api_key_tombstones: {
    kind: "reference",
    why: "hashes of deleted keys, read before the workspace is known",
  },
  workspace_tombstones: { kind: "reference", why: "deleted workspaces, read before the workspace is known" },
  billing_customers: {
    kind: "reference",
    why: "a billing webhook finds its workspace by the provider's customer id",
  },
  billing_events: { kind: "reference", why: "webhook idempotency, recorded before the workspace is known" },
  schema_migrations: { kind: "local", why: "read and written by migrations on the coordinator only" },
};

/**
 * The Citus calls that place every table, in an order Citus accepts: reference tables first
 * (distributed tables point at `users`), then `workspaces`, then every tenant table co-located
 * with it. Run once, as the owner, on the coordinator, after `relay migrate`.
 */
export function citusDistributionSql(): string[] {
  const entries = Object.entries(TABLE_PLACEMENT);
  const reference = entries.filter(([, p]) => p.kind === "reference").map(([t]) => t);
  const distributed = entries.filter(([t, p]) => p.kind === "distributed" && t !== "workspaces");
  return [
    ...reference.map((t) => `SELECT create_reference_table('${t}');`),
    "SELECT create_distributed_table('workspaces', 'id');",
    ...distributed.map(
      ([t, p]) =>
        `SELECT create_distributed_table('${t}', '${(p as { column: string }).column}', colocate_with => 'workspaces');`,
    ),
  ];
}
