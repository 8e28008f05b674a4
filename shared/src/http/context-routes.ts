import type { FastifyInstance, FastifyRequest } from "fastify";
import { RecallBody } from "../memory/schemas.ts";
import { type ContextItem, contextQuery, formatContextBlock } from "../recall/context-block.ts";
import type { MemoryService } from "../service/memory-service.ts";
import { ContextBody } from "../sessions/schemas.ts";
import type { SessionService } from "../sessions/session-service.ts";
import { BODY_LIMITS } from "./body-limits.ts";
import { requireScope, type ZodTypeProvider } from "./route-schemas.ts";
import { validate } from "./validate.ts";

export interface ContextRoutesOptions {
  serviceFor: (req: FastifyRequest) => MemoryService | Promise<MemoryService>;
  sessionsFor?: (req: FastifyRequest) => SessionService | null;
  authorize?: (req: FastifyRequest, scope: "read" | "write" | "admin") => void | Promise<void>;
}

/**
 * `POST /v1/context`: given a conversation's last turns, the few most relevant memories as a
 * block to prepend to the prompt, within `max_tokens`.
 */
export function registerContextRoutes(fastify: FastifyInstance, options: ContextRoutesOptions): void {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const routeOptions = {
    bodyLimit: BODY_LIMITS.context,
    schema: { body: ContextBody },
    ...requireScope(options.authorize, "read"),
  };
  app.post("/v1/context", routeOptions, async (req) => {
    const body = req.body;
    const started = performance.now();
    const query = contextQuery(body.turns);
    if (!query)
      return { context: "", memories: [], query, token_estimate: 0, truncated: false, total_time_ms: 0 };
    const items: ContextItem[] = [];
    if (body.sources !== "sessions") {
      const recall = validate(RecallBody, {
        query,
        limit: body.limit,
        min_relevance: body.min_relevance,
        tags: body.tags,
      });
      const outcome = await (await options.serviceFor(req)).recall(recall);
      for (const r of outcome.results) {
        items.push({
          kind: "memory",
          id: r.memory.id,
          content: r.memory.content,
          score: r.score,
          created_at: r.memory.created_at,
          tags: r.memory.tags,
        });
      }
    }
    const sessions = body.sources !== "memories" ? options.sessionsFor?.(req) : null;
    if (sessions) {
      for (const h of await sessions.search({
        query,
        limit: body.limit,
        min_relevance: body.min_relevance,
      })) {
        items.push({
          kind: "session",
          id: h.chunk.chunk_id,
          content: h.chunk.content,
          score: h.score,
          created_at: h.chunk.end_time,
          tags: [],
        });
      }
    }
    items.sort((a, b) => b.score - a.score);
    const block = formatContextBlock(items.slice(0, body.limit), body.max_tokens);
    return {
      context: block.context,
      memories: block.included.map((i) => ({
        type: i.kind,
        id: i.id,
        content: i.content,
        similarity_score: i.score,
      })),
      query,
      token_estimate: block.tokens,
      truncated: block.truncated,
      total_time_ms: Math.round((performance.now() - started) * 100) / 100,
    };
  });
}
