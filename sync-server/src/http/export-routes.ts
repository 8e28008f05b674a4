import { TribalError } from "@tribalmemory/shared/errors";
import { requireScope, type ZodTypeProvider } from "@tribalmemory/shared/http/route-schemas";
import type { FastifyPluginAsync } from "fastify";
import { z } from "zod";
import { hasScope } from "../auth/api-keys.ts";
import { userAndWorkspaces } from "../store/pg-accounts.ts";
import { streamAuditRows } from "../store/pg-audit.ts";
import { type MemberRecords, memberRecords } from "../store/pg-member-export.ts";
import { sessionOf } from "./account-actor.ts";
import { sendJsonl } from "./audit-routes.ts";
import type { RelayRouteContext } from "./relay-route-context.ts";
import { recordRequest } from "./request-record.ts";

const MemberParams = z.strictObject({ id: z.string().uuid(), userId: z.string().uuid() });

/** Memories read per store call while streaming an export. */
const MEMORY_PAGE = 200;

/**
 * `GET /v1/workspaces/:id/members/:userId/export` (an admin of the workspace, or the member
 * themself): what the relay holds about one member of one workspace, as JSON lines — their user
 * row (no password hash), membership, keys (no hashes), the audit rows by or about them, and
 * the memories written through their keys or devices. `GET /v1/me/export` (a login session):
 * the same for every workspace of the caller. Each export is audited (`member.export`).
 */
export const exportRoutes: FastifyPluginAsync<RelayRouteContext> = async (fastify, options) => {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const { db, authOf } = options;

  const exportAudit = (userId: string, records: MemberRecords) => ({
    action: "member.export",
    target: userId,
    details: { keys: records.keys.length, memories: records.memoryIds.length },
  });

  /** One member's lines in one workspace: user, membership, keys, devices, audit rows, memories. */
  async function* memberLines(workspaceId: string, userId: string, records: MemberRecords) {
    const { store } = await options.workspace(workspaceId);
    const line = (type: string, fields: Record<string, unknown>) => ({
      type,
      workspace_id: workspaceId,
      ...fields,
    });
    yield line("user", { user: records.user });
    yield line("membership", { membership: records.membership });
    for (const key of records.keys) yield line("key", { key });
    for (const device of records.devices) yield line("device", { device_id: device });
    for await (const row of streamAuditRows(db, workspaceId, { aboutUser: userId }))
      yield line("audit", { audit: row });
    for (let i = 0; i < records.memoryIds.length; i += MEMORY_PAGE) {
      for (const memory of await store.getMany(records.memoryIds.slice(i, i + MEMORY_PAGE)))
        yield line("memory", { memory });
    }
  }

  // A logged-in user's own export: the same lines for every workspace they belong to.
  app.get("/v1/me/export", { config: { account: true } }, async (req, reply) => {
    const { userId } = sessionOf(req);
    const { workspaces } = await userAndWorkspaces(db, userId);
    async function* all() {
      for (const w of workspaces) {
        const records = await memberRecords(db, w.id, userId);
        await recordRequest(
          db,
          { keyId: null, userId, workspaceId: w.id, scopes: [] },
          exportAudit(userId, records),
          null,
        );
        yield* memberLines(w.id, userId, records);
      }
    }
    return sendJsonl(reply, all());
  });

  app.get(
    "/v1/workspaces/:id/members/:userId/export",
    { schema: { params: MemberParams }, ...requireScope(options.authorize, "read") },
    async (req, reply) => {
      const auth = authOf(req);
      const { id: workspaceId, userId } = req.params;
      if (workspaceId !== auth.workspaceId) {
        throw new TribalError(
          "FORBIDDEN",
          `These credentials act in workspace ${auth.workspaceId}, not ${workspaceId}: use a key (or X-Tribal-Workspace) of that workspace.`,
        );
      }
      if (auth.userId !== userId && !hasScope(auth.scopes, "admin")) {
        throw new TribalError(
          "FORBIDDEN",
          "A member's data export needs an admin of the workspace, or the member themself.",
        );
      }
      const records = await memberRecords(db, workspaceId, userId);
      if (!records.user || !records.membership) {
        throw new TribalError(
          "MEMBER_NOT_FOUND",
          `User ${userId} is not a member of this workspace. \`GET /v1/workspaces/${workspaceId}/members\` lists them.`,
          { user_id: userId },
        );
      }
      await recordRequest(db, auth, exportAudit(userId, records), null);
      return sendJsonl(reply, memberLines(workspaceId, userId, records));
    },
  );
};
