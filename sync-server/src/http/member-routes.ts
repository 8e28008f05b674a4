/**
 * `/v1/workspaces/:id/members`: who belongs to a workspace and with which role. Any member
 * lists them; admins change roles and remove members (only an owner touches owners); anyone
 * may remove themselves (leave). The last owner stays (409 LAST_OWNER).
 */
import type { ZodTypeProvider } from "@tribalmemory/shared/http/route-schemas";
import type { FastifyPluginAsync } from "fastify";
import { z } from "zod";
import { ROLES } from "../auth/api-keys.ts";
import type { RelayDatabase } from "../store/database.ts";
import { listMembers, removeMember, setMemberRole } from "../store/pg-members.ts";
import { workspaceActor } from "./account-actor.ts";

const MemberParams = z.strictObject({ id: z.string().uuid(), userId: z.string().uuid() });
const WorkspaceIdParams = z.strictObject({ id: z.string().uuid() });
const RoleBody = z.strictObject({ role: z.enum(ROLES) });

export interface MemberRoutesOptions {
  db: RelayDatabase;
  /** A removed member's keys: their open sockets close at once (the hub's `closeKey`). */
  onKeysGone(keyIds: string[]): void;
}

export const memberRoutes: FastifyPluginAsync<MemberRoutesOptions> = async (fastify, options) => {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const { db } = options;
  const account = { config: { account: true } };

  app.get(
    "/v1/workspaces/:id/members",
    { schema: { params: WorkspaceIdParams }, ...account },
    async (req) => {
      await workspaceActor(db, req, req.params.id, "viewer");
      return { members: await listMembers(db, req.params.id) };
    },
  );

  app.patch(
    "/v1/workspaces/:id/members/:userId",
    { schema: { params: MemberParams, body: RoleBody }, ...account },
    async (req) => {
      const actor = await workspaceActor(db, req, req.params.id, "admin");
      return { member: await setMemberRole(db, req.params.id, req.params.userId, req.body.role, actor) };
    },
  );

  app.delete(
    "/v1/workspaces/:id/members/:userId",
    { schema: { params: MemberParams }, ...account },
    async (req) => {
      const self = req.account?.userId === req.params.userId;
      const actor = await workspaceActor(db, req, req.params.id, self ? "viewer" : "admin");
      const { revokedKeyIds } = await removeMember(db, req.params.id, req.params.userId, actor);
      options.onKeysGone(revokedKeyIds);
      return { removed: true, user_id: req.params.userId, revoked_keys: revokedKeyIds };
    },
  );
};
