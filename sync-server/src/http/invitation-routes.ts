/**
 * Invitations: an admin creates one (`POST /v1/workspaces/:id/invitations`) and gets a token
 * once, with the link path `/invite#<token>` (a fragment: never sent to a server, never in a
 * log or a Referer); a logged-in user accepts it with `POST /v1/invitations/accept`.
 */
import type { ZodTypeProvider } from "@tribalmemory/shared/http/route-schemas";
import type { FastifyPluginAsync } from "fastify";
import { z } from "zod";
import { hashToken, newToken } from "../accounts/session-token.ts";
import type { RelayDatabase } from "../store/database.ts";
import {
  acceptInvitation,
  createInvitation,
  listInvitations,
  revokeInvitation,
} from "../store/pg-invitations.ts";
import { sessionOf, workspaceActor } from "./account-actor.ts";
import { Email } from "./account-routes.ts";

/** How long an invitation is good for, unless the request says otherwise. */
export const INVITATION_TTL_MS = 7 * 24 * 3600 * 1000;

const WorkspaceIdParams = z.strictObject({ id: z.string().uuid() });
const InvitationParams = z.strictObject({ id: z.string().uuid(), invitationId: z.string().uuid() });
const CreateBody = z.strictObject({
  /** Only this user may accept it; absent: whoever holds the link. */
  email: Email.optional(),
  role: z.enum(["admin", "member", "viewer"]).default("member"),
  expires_in_hours: z
    .number()
    .int()
    .min(1)
    .max(24 * 30)
    .optional(),
});
const AcceptBody = z.strictObject({ token: z.string().min(1).max(200) });

export const invitationRoutes: FastifyPluginAsync<{ db: RelayDatabase }> = async (fastify, options) => {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const { db } = options;
  const account = { config: { account: true } };

  app.post(
    "/v1/workspaces/:id/invitations",
    { schema: { params: WorkspaceIdParams, body: CreateBody }, ...account },
    async (req, reply) => {
      const actor = await workspaceActor(db, req, req.params.id, "admin");
      const token = newToken();
      const invitation = await createInvitation(db, req.params.id, {
        email: req.body.email ?? null,
        role: req.body.role,
        tokenHash: hashToken(token),
        ttlMs: req.body.expires_in_hours ? req.body.expires_in_hours * 3600 * 1000 : INVITATION_TTL_MS,
        actor,
      });
      reply.status(201);
      return { invitation, token, link_path: `/invite#${token}` };
    },
  );

  app.get(
    "/v1/workspaces/:id/invitations",
    { schema: { params: WorkspaceIdParams }, ...account },
    async (req) => {
      await workspaceActor(db, req, req.params.id, "admin");
      return { invitations: await listInvitations(db, req.params.id) };
    },
  );

  app.delete(
    "/v1/workspaces/:id/invitations/:invitationId",
    { schema: { params: InvitationParams }, ...account },
    async (req) => {
      const actor = await workspaceActor(db, req, req.params.id, "admin");
      await revokeInvitation(db, req.params.id, req.params.invitationId, actor);
      return { revoked: true, invitation_id: req.params.invitationId };
    },
  );

  app.post("/v1/invitations/accept", { schema: { body: AcceptBody }, ...account }, async (req) => {
    const { userId } = sessionOf(req);
    const accepted = await acceptInvitation(db, hashToken(req.body.token), userId);
    return {
      workspace_id: accepted.workspaceId,
      role: accepted.role,
      already_member: accepted.alreadyMember,
    };
  });
};
