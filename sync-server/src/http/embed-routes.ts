import { TribalError } from "@tribalmemory/shared/errors";
import { BODY_LIMITS } from "@tribalmemory/shared/http/body-limits";
import { type Authorize, requireScope, type ZodTypeProvider } from "@tribalmemory/shared/http/route-schemas";
import type { EmbedderInfo } from "@tribalmemory/shared/service/memory-service";
import type { FastifyPluginAsync } from "fastify";
import { z } from "zod";

const EmbedBody = z.strictObject({
  texts: z
    .array(z.string().max(32 * 1024))
    .min(1)
    .max(256),
  kind: z.enum(["query", "passage"]).default("passage"),
});

export interface EmbedRoutesOptions {
  authorize: Authorize;
  /** The relay's model, or null when it runs without one (MODEL_UNAVAILABLE). */
  embedder: EmbedderInfo | null;
}

/** `POST /v1/embed`: vectors from the relay's model, for daemons that run none of their own. */
export const embedRoutes: FastifyPluginAsync<EmbedRoutesOptions> = async (fastify, options) => {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const routeOptions = {
    bodyLimit: BODY_LIMITS.embed,
    schema: { body: EmbedBody },
    ...requireScope(options.authorize, "read"),
  };
  app.post("/v1/embed", routeOptions, async (req) => {
    const embedder = options.embedder;
    if (!embedder) throw new TribalError("MODEL_UNAVAILABLE", "This relay runs without an embedding model.");
    const vectors = await embedder.provider.embed(req.body.texts, req.body.kind);
    return {
      model: embedder.provider.modelId,
      dims: embedder.provider.dims,
      embeddings: vectors.map((v) => Array.from(v)),
    };
  });
};
