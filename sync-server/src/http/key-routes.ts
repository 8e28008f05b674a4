import { requireScope, type ZodTypeProvider } from "@tribalmemory/shared/http/route-schemas";
import type { FastifyPluginAsync } from "fastify";
import { z } from "zod";
import { SCOPES } from "../auth/api-keys.ts";
import { createApiKey, listApiKeys, revokeApiKey } from "../store/pg-keys.ts";
import type { RelayRouteContext } from "./relay-route-context.ts";

const KeyCreateBody = z.strictObject({
  name: z.string().trim().min(1).max(200).default("key"),
  scopes: z.array(z.enum(SCOPES)).min(1).max(3).default(["read", "write"]),
});
const KeyIdParams = z.strictObject({ id: z.string().uuid() });

export interface KeyRoutesOptions extends Pick<RelayRouteContext, "db" | "authOf" | "authorize"> {
  /** A revoked key's open sync sockets are closed at once (the hub's `closeKey`). */
  onRevoke(keyId: string): void;
}

/** `/v1/auth/keys`: an admin key creates, lists and revokes its workspace's keys. */
export const keyRoutes: FastifyPluginAsync<KeyRoutesOptions> = async (fastify, options) => {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const { db, authOf } = options;
  const admin = requireScope(options.authorize, "admin");

  app.post("/v1/auth/keys", { schema: { body: KeyCreateBody }, ...admin }, async (req, reply) => {
    const auth = authOf(req);
    const key = await createApiKey(db, auth.workspaceId, {
      name: req.body.name,
      scopes: req.body.scopes,
      userId: auth.userId,
      byKeyId: auth.keyId,
    });
    reply.status(201);
    return key;
  });
  app.get("/v1/auth/keys", admin, async (req) => ({ keys: await listApiKeys(db, authOf(req).workspaceId) }));
  app.delete("/v1/auth/keys/:id", { schema: { params: KeyIdParams }, ...admin }, async (req) => {
    const auth = authOf(req);
    const key = await revokeApiKey(db, auth.workspaceId, req.params.id, auth.keyId, auth.userId);
    options.onRevoke(req.params.id);
    return { success: true, key };
  });
};
