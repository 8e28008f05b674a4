/**
 * `/v1/workspaces`: a logged-in user's workspaces — list (with their role), create (they
 * own it), rename (admin+), delete (owner, in two steps: the first DELETE answers 202 with a
 * `confirmation_token`, the second sends it back and the workspace and all its data go).
 */
import type { ZodTypeProvider } from "@tribalmemory/shared/http/route-schemas";
import type { FastifyPluginAsync } from "fastify";
import { z } from "zod";
import { hashToken, newToken } from "../accounts/session-token.ts";
import type { RelayDatabase } from "../store/database.ts";
import { REGION_PATTERN } from "../store/pg-regions.ts";
import {
  createOwnedWorkspace,
  DELETION_CONFIRMATION_TTL_MS,
  deleteWorkspace,
  listWorkspaces,
  renameWorkspace,
  requestWorkspaceDeletion,
} from "../store/pg-workspaces.ts";
import { sessionOf, workspaceActor } from "./account-actor.ts";

const WorkspaceName = z.string().trim().min(1).max(200);
export const WorkspaceIdParams = z.strictObject({ id: z.string().uuid() });
/** `region`: where the workspace's data lives (a relay serving other regions refuses it: region-guard.ts). */
const CreateBody = z.strictObject({
  name: WorkspaceName,
  region: z.string().regex(REGION_PATTERN).optional(),
});
const RenameBody = z.strictObject({ name: WorkspaceName });
const DeleteBody = z.strictObject({ confirmation_token: z.string().min(1).max(200).optional() }).optional();

export interface WorkspaceRoutesOptions {
  db: RelayDatabase;
  /** A deleted workspace's keys: their open sockets close at once (the hub's `closeKey`). */
  onKeysGone(keyIds: string[]): void;
}

export const workspaceRoutes: FastifyPluginAsync<WorkspaceRoutesOptions> = async (fastify, options) => {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const { db } = options;
  const account = { config: { account: true } };

  app.get("/v1/workspaces", account, async (req) => ({
    workspaces: await listWorkspaces(db, sessionOf(req).userId),
  }));

  app.post("/v1/workspaces", { schema: { body: CreateBody }, ...account }, async (req, reply) => {
    const workspace = await createOwnedWorkspace(db, sessionOf(req).userId, req.body.name, req.body.region);
    reply.status(201);
    return { workspace };
  });

  app.patch(
    "/v1/workspaces/:id",
    { schema: { params: WorkspaceIdParams, body: RenameBody }, ...account },
    async (req) => {
      const actor = await workspaceActor(db, req, req.params.id, "admin");
      return { workspace: await renameWorkspace(db, req.params.id, req.body.name, actor) };
    },
  );

  app.delete(
    "/v1/workspaces/:id",
    { schema: { params: WorkspaceIdParams, body: DeleteBody }, ...account },
    async (req, reply) => {
      const { userId } = await workspaceActor(db, req, req.params.id, "owner", { sessionOnly: true });
      const token = req.body?.confirmation_token;
      if (!token) {
        const confirmation = newToken();
        const { expiresAt } = await requestWorkspaceDeletion(
          db,
          req.params.id,
          userId as string,
          hashToken(confirmation),
        );
        reply.status(202);
        return {
          confirmation_token: confirmation,
          expires_at: expiresAt,
          message: `Deleting this workspace removes all its memories, sessions, keys and members for good. Send DELETE again within ${DELETION_CONFIRMATION_TTL_MS / 60_000} minutes with {"confirmation_token": "…"} to confirm.`,
        };
      }
      const { deletedKeyIds } = await deleteWorkspace(db, req.params.id, userId as string, hashToken(token));
      options.onKeysGone(deletedKeyIds);
      return { deleted: true, workspace_id: req.params.id, revoked_keys: deletedKeyIds.length };
    },
  );
};
