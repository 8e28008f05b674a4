import type { FastifyInstance, FastifyRequest } from "fastify";
import { z } from "zod";
import { TribalError } from "../errors.ts";
import type { RecallBody } from "../memory/schemas.ts";
import { SessionIngestBody, SessionSearchQuery } from "../sessions/schemas.ts";
import type { SessionHit, SessionService } from "../sessions/session-service.ts";
import { BODY_LIMITS } from "./body-limits.ts";
import { requireScope, type ZodTypeProvider } from "./route-schemas.ts";
import { sourceInstanceHeader } from "./source-instance.ts";

export interface SessionRoutesOptions {
  /** The session service for this request, or null where transcripts are not kept. */
  sessionsFor: (req: FastifyRequest) => SessionService | null;
  authorize?: (req: FastifyRequest, scope: "read" | "write" | "admin") => void | Promise<void>;
  /** Extra fields for /v1/sessions/stats (the watcher's counters). */
  statsExtras?: () => Record<string, unknown>;
}

/** `?q=` is accepted as a short name for `?query=`. */
const SearchQuery = z.preprocess((raw) => {
  const q = { ...(raw as Record<string, string>) };
  if (q.q !== undefined && q.query === undefined) {
    q.query = q.q;
    delete q.q;
  }
  return q;
}, SessionSearchQuery);

/** `/v1/sessions/*`: append-only transcript ingest and search. */
export function registerSessionRoutes(fastify: FastifyInstance, options: SessionRoutesOptions): void {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const scope = (s: "read" | "write") => requireScope(options.authorize, s);
  const sessions = (req: FastifyRequest): SessionService => {
    const s = options.sessionsFor(req);
    if (!s)
      throw new TribalError(
        "SESSIONS_UNAVAILABLE",
        "This server keeps no session transcripts; search memories instead.",
      );
    return s;
  };

  // A transcript delta may carry a 10 MB tool output; the service caps what it indexes.
  const ingestOptions = {
    bodyLimit: BODY_LIMITS.sessionsIngest,
    schema: { body: SessionIngestBody },
    ...scope("write"),
  };
  app.post("/v1/sessions/ingest", ingestOptions, async (req, reply) => {
    const body = req.body;
    body.instance_id ||= sourceInstanceHeader(req);
    const outcome = await sessions(req).ingest(body);
    reply.status(outcome.messages_processed > 0 ? 201 : 200);
    return outcome;
  });

  app.get("/v1/sessions/search", { schema: { querystring: SearchQuery }, ...scope("read") }, async (req) => {
    const q = req.query;
    const started = performance.now();
    const hits = await sessions(req).search(q);
    return {
      results: hits.map(sessionResult),
      query: q.query,
      count: hits.length,
      total_time_ms: Math.round((performance.now() - started) * 100) / 100,
    };
  });

  app.get("/v1/sessions/stats", scope("read"), async (req) => {
    const s = sessions(req);
    return { ...(await s.stats()), retention_days: s.retentionDays, ...(options.statsExtras?.() ?? {}) };
  });
}

export function sessionResult(hit: SessionHit) {
  return { type: "session" as const, ...hit.chunk, similarity_score: hit.score, signals: hit.signals };
}

interface MemoryRecallResponse {
  results: { similarity_score: number }[];
  query: string;
  total_time_ms: number;
}

/**
 * Recall with `sources` = sessions | all: memories and session chunks are scored by the same
 * fusion on the same 0..1 scale, so merging is a sort by score.
 */
export function recallAcrossSources(
  sessionsFor: (req: FastifyRequest) => SessionService | null,
): (
  req: FastifyRequest,
  body: RecallBody,
  memories: () => Promise<MemoryRecallResponse>,
) => Promise<unknown> {
  return async (req, body, memories) => {
    const started = performance.now();
    const service = sessionsFor(req);
    if (!service && body.sources === "sessions") {
      throw new TribalError(
        "SESSIONS_UNAVAILABLE",
        "This server keeps no session transcripts; use sources=memories.",
      );
    }
    const [mem, hits] = await Promise.all([
      body.sources === "all" || !service ? memories() : Promise.resolve(null),
      service
        ? service.search({
            query: body.query,
            limit: body.limit,
            min_relevance: body.min_relevance,
            after: body.after ?? undefined,
            before: body.before ?? undefined,
          })
        : Promise.resolve([]),
    ]);
    const merged = [
      ...(mem?.results ?? []).map((r) => ({ type: "memory" as const, ...r })),
      ...hits.map(sessionResult),
    ]
      .sort((a, b) => b.similarity_score - a.similarity_score)
      .slice(0, body.limit);
    return {
      ...(mem ?? {}),
      results: merged,
      query: body.query,
      count: merged.length,
      sources: body.sources,
      total_time_ms: Math.round((performance.now() - started) * 100) / 100,
    };
  };
}
