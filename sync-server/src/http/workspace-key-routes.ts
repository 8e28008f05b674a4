/**
 * `/v1/workspaces/:id/keys`: a logged-in admin creates, lists and revokes the workspace's API
 * keys (a key created so records its creator: it is revoked when they leave). The key-only
 * routes `/v1/auth/keys` (key-routes.ts) stay for admin keys and the CLI.
 */
import type { ZodTypeProvider } from "@tribalmemory/shared/http/route-schemas";
import type { FastifyPluginAsync } from "fastify";
import { z } from "zod";
import { SCOPES } from "../auth/api-keys.ts";
import type { RelayDatabase } from "../store/database.ts";
import { createApiKey, listApiKeys, revokeApiKey } from "../store/pg-keys.ts";
import { workspaceActor } from "./account-actor.ts";

const WorkspaceIdParams = z.strictObject({ id: z.string().uuid() });
const KeyParams = z.strictObject({ id: z.string().uuid(), keyId: z.string().uuid() });
const KeyCreateBody = z.strictObject({
  name: z.string().trim().min(1).max(200).default("key"),
  scopes: z.array(z.enum(SCOPES)).min(1).max(3).default(["read", "write"]),
});

export interface WorkspaceKeyRoutesOptions {
  db: RelayDatabase;
  onRevoke(keyId: string): void;
}

export const workspaceKeyRoutes: FastifyPluginAsync<WorkspaceKeyRoutesOptions> = async (fastify, options) => {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const { db } = options;
  const account = { config: { account: true } };

  app.post(
    "/v1/workspaces/:id/keys",
    { schema: { params: WorkspaceIdParams, body: KeyCreateBody }, ...account },
    async (req, reply) => {
      const actor = await workspaceActor(db, req, req.params.id, "admin");
      const key = await createApiKey(db, req.params.id, {
        name: req.body.name,
        scopes: req.body.scopes,
        userId: actor.userId,
        byKeyId: actor.keyId,
      });
      reply.status(201);
      return key;
    },
  );

  app.get("/v1/workspaces/:id/keys", { schema: { params: WorkspaceIdParams }, ...account }, async (req) => {
    await workspaceActor(db, req, req.params.id, "admin");
    return { keys: await listApiKeys(db, req.params.id) };
  });

  app.delete("/v1/workspaces/:id/keys/:keyId", { schema: { params: KeyParams }, ...account }, async (req) => {
    const actor = await workspaceActor(db, req, req.params.id, "admin");
    const key = await revokeApiKey(db, req.params.id, req.params.keyId, actor.keyId, actor.userId);
    options.onRevoke(req.params.keyId);
    return { revoked: true, key };
  });
};
