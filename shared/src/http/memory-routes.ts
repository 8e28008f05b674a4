import type { Readable } from "node:stream";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import { TribalError } from "../errors.ts";
import { loadMemoryDoc } from "../memory/document.ts";
import { memoryHistory, nameDevices } from "../memory/history.ts";
import {
  CorrectBody,
  ExportBody,
  ExportQuery,
  ForgetBody,
  ImportBody,
  ImportJsonlQuery,
  ListQuery,
  MemoryIdParams,
  RecallBody,
  RememberBatchBody,
  RememberBody,
} from "../memory/schemas.ts";
import { mergeRedactionCounts, type RedactionCount } from "../memory/secret-redaction.ts";
import type { RecallOutcome } from "../recall/pipeline.ts";
import type { MemoryService, RememberOutcome } from "../service/memory-service.ts";
import {
  bodyTooLarge,
  bundleText,
  exportAnswerText,
  exportEntries,
  exportManifest,
  exportModel,
  type ImportSummary,
  importEntries,
  importStatus,
  jsonlText,
  openJsonlImport,
} from "../service/portability.ts";
import { resolveTimeBound } from "../service/time-bounds.ts";
import { BODY_LIMITS } from "./body-limits.ts";
import { clientGoneSignal } from "./client-gone.ts";
import {
  BatchResponse,
  CorrectResponse,
  ForgetResponse,
  HistoryResponse,
  ListResponse,
  MemoryJson,
  RecallResponse,
  StoreResponse,
} from "./response-schemas.ts";
import { requireScope, type ZodTypeProvider } from "./route-schemas.ts";
import { sourceInstanceHeader } from "./source-instance.ts";
import { validate } from "./validate.ts";

export interface MemoryRoutesOptions {
  /** The service for this request: the daemon's one, or the relay's per-workspace one. */
  serviceFor: (req: FastifyRequest) => MemoryService | Promise<MemoryService>;
  version: string;
  /**
   * Serve `GET /v1/health` here (default true: the daemon's). The relay passes false: its
   * health is public and holds no workspace data (sync-server/src/http/health-routes.ts).
   */
  health?: boolean;
  /** Extra fields for /v1/health (model state, sync state). */
  healthExtras?: (req: FastifyRequest) => Record<string, unknown> | Promise<Record<string, unknown>>;
  /** Guards a write route (the relay checks the key's scope). */
  authorize?: (req: FastifyRequest, scope: "read" | "write" | "admin") => void | Promise<void>;
  /** Largest JSON import body (default BODY_LIMITS.importJson). */
  importBodyLimit?: number;
  /** Largest streamed JSONL import (default BODY_LIMITS.importStream). */
  importStreamLimit?: number;
  /** Hard delete (relay): removes content, changes and vectors. */
  purge?: (req: FastifyRequest, reply: FastifyReply, id: string) => Promise<unknown>;
  /**
   * Names the Automerge actors of a memory's history by device (the relay: its `devices`
   * table; the daemon: its own actor as "this device"). Without it, no entry names a device.
   */
  deviceNames?: (
    req: FastifyRequest,
    actors: string[],
    service: MemoryService,
  ) => Promise<ReadonlyMap<string, string>>;
  /** Recall over session transcripts too (`sources` = sessions | all). */
  recallSessions?: (
    req: FastifyRequest,
    body: RecallBody,
    memories: () => Promise<ReturnType<typeof recallResponse>>,
  ) => Promise<unknown>;
}

/** `GET /v1/recall?q=…`: the query string coerced into a RecallBody. */
const RecallQuery = z.preprocess(coerceQuery, RecallBody);
/** `?purge=true` asks the relay for a hard delete; any other value forgets. */
const DeleteQuery = z.object({ purge: z.string().optional() });

/** The /v1 memory API, written once against MemoryService for daemon and relay. */
export function registerMemoryRoutes(fastify: FastifyInstance, options: MemoryRoutesOptions): void {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const scope = (s: "read" | "write" | "admin") => requireScope(options.authorize, s);
  const svc = options.serviceFor;
  const can = async (req: FastifyRequest, scope: "read" | "write" | "admin") =>
    options.authorize?.(req, scope);
  const instanceOf = sourceInstanceHeader;

  app.post(
    "/v1/remember",
    {
      bodyLimit: BODY_LIMITS.remember,
      schema: { body: RememberBody, response: { 200: StoreResponse, 201: StoreResponse } },
      ...scope("write"),
    },
    async (req, reply) => {
      const body = req.body;
      body.source_instance ??= instanceOf(req);
      const outcome = await (await svc(req)).remember(body, { signal: clientGoneSignal(reply) });
      reply.status(outcome.status === "created" ? 201 : 200);
      return storeResponse(outcome);
    },
  );

  app.post(
    "/v1/remember/batch",
    {
      bodyLimit: BODY_LIMITS.batch,
      schema: { body: RememberBatchBody, response: { 200: BatchResponse, 201: BatchResponse } },
      ...scope("write"),
    },
    async (req, reply) => {
      const body = req.body;
      const instance = instanceOf(req);
      for (const m of body.memories) m.source_instance ??= instance;
      const outcomes = await (await svc(req)).rememberMany(body.memories, {
        signal: clientGoneSignal(reply),
      });
      const created = outcomes.filter((o) => o.status === "created").length;
      reply.status(created > 0 ? 201 : 200);
      return {
        success: true as const,
        created,
        duplicates: outcomes.length - created,
        results: outcomes.map((o) => ({
          memory_id: o.memory.id,
          duplicate_of: o.duplicateOf,
          status: o.status,
          ...(o.redacted ? { redacted: o.redacted } : {}),
        })),
        redacted: totalRedactions(outcomes),
      };
    },
  );

  const recall = async (req: FastifyRequest, body: RecallBody): Promise<z.input<typeof RecallResponse>> => {
    const started = performance.now();
    const memories = async () =>
      recallResponse(body.query, await (await svc(req)).recall(body), performance.now() - started);
    // sources = sessions | all: session chunks merged on the same score scale (session-routes.ts).
    if (body.sources !== "memories" && options.recallSessions)
      // Typed unknown across the session module; its answers are parsed in openapi.test.ts.
      return (await options.recallSessions(req, body, memories)) as z.input<typeof RecallResponse>;
    return memories();
  };
  app.post(
    "/v1/recall",
    {
      bodyLimit: BODY_LIMITS.recall,
      schema: { body: RecallBody, response: { 200: RecallResponse } },
      ...scope("read"),
    },
    (req) => recall(req, req.body),
  );
  app.get(
    "/v1/recall",
    { schema: { querystring: RecallQuery, response: { 200: RecallResponse } }, ...scope("read") },
    (req) => recall(req, req.query),
  );

  app.post(
    "/v1/correct",
    {
      bodyLimit: BODY_LIMITS.correct,
      schema: { body: CorrectBody, response: { 201: CorrectResponse } },
      ...scope("write"),
    },
    async (req, reply) => {
      const body = req.body;
      body.source_instance ??= instanceOf(req);
      const outcome = await (await svc(req)).correct(body);
      reply.status(201);
      return { ...storeResponse(outcome), supersedes: outcome.memory.supersedes };
    },
  );

  const forget = async (req: FastifyRequest, id: string) => {
    await can(req, "write");
    const memory = await (await svc(req)).forget(id);
    return { success: true as const, memory_id: memory.id, deleted: true as const };
  };
  app.post(
    "/v1/forget",
    { bodyLimit: BODY_LIMITS.forget, schema: { body: ForgetBody, response: { 200: ForgetResponse } } },
    (req) => forget(req, req.body.memory_id),
  );
  app.delete(
    "/v1/forget/:id",
    { schema: { params: MemoryIdParams, response: { 200: ForgetResponse } } },
    (req) => forget(req, req.params.id),
  );
  app.delete(
    "/v1/memories/:id",
    { schema: { params: MemoryIdParams, querystring: DeleteQuery } },
    async (req, reply) => {
      const { id } = req.params;
      if (req.query.purge === "true" && options.purge) return options.purge(req, reply, id);
      return forget(req, id);
    },
  );

  const getOne = { schema: { params: MemoryIdParams, response: { 200: MemoryJson } }, ...scope("read") };
  app.get("/v1/memories/:id", getOne, async (req) => (await svc(req)).get(req.params.id.toLowerCase()));
  app.get("/v1/memory/:id", getOne, async (req) => (await svc(req)).get(req.params.id.toLowerCase()));

  // Who changed what and when, read from the memory's Automerge document (memory/history.ts).
  app.get(
    "/v1/memories/:id/history",
    { schema: { params: MemoryIdParams, response: { 200: HistoryResponse } }, ...scope("read") },
    async (req) => {
      const service = await svc(req);
      const memory = await service.get(req.params.id.toLowerCase());
      const saved = await service.store.getDoc(memory.id);
      if (!saved) throw new TribalError("MEMORY_NOT_FOUND", `No memory ${memory.id}.`);
      const supersededBy = await service.store.supersedersOf(memory.id);
      const history = memoryHistory(loadMemoryDoc(saved, "00"));
      const names = options.deviceNames
        ? await options.deviceNames(req, [...new Set(history.map((h) => h.actor))], service)
        : new Map<string, string>();
      return {
        memory_id: memory.id,
        supersedes: memory.supersedes,
        superseded: supersededBy.length > 0,
        superseded_by: supersededBy,
        history: nameDevices(history, names),
      };
    },
  );

  app.get(
    "/v1/memories",
    { schema: { querystring: ListQuery, response: { 200: ListResponse } }, ...scope("read") },
    async (req) => {
      const q = req.query;
      const page = await (await svc(req)).list(q);
      return { memories: page.memories, next_cursor: page.nextCursor };
    },
  );

  // Health is polled often: the count comes from the store's cheap countLive() path
  // (stats() scans several tables: ~250 ms at 100k memories in SQLite, and 50 polls a second
  // queued behind each other for seconds). While an import runs, health answers with the last
  // count and the import's progress, so polls take nothing from the import's turns.
  const lastCount = new WeakMap<MemoryService, number>();
  if (options.health !== false)
    app.get("/v1/health", async (req) => {
      const service = await svc(req);
      const imports = importStatus(service);
      let count = lastCount.get(service);
      if (!imports.running || count === undefined) {
        count = await service.store.countLive();
        lastCount.set(service, count);
      }
      return {
        status: "ok",
        instance_id: service.instanceId,
        memory_count: count,
        version: options.version,
        import: imports,
        ...(options.healthExtras ? await options.healthExtras(req) : {}),
      };
    });

  app.get("/v1/stats", scope("read"), async (req) => {
    const service = await svc(req);
    const stats = await service.stats();
    const e = service.embedding;
    return {
      ...stats,
      instance_id: service.instanceId,
      embedding_model: e ? { model: e.provider.modelId, dims: e.provider.dims } : null,
      missing_embeddings: await service.store.countMissingEmbeddings(),
    };
  });

  // TribalMemory's export: one JSON bundle, streamed (bundle-export.ts).
  app.post(
    "/v1/export",
    { bodyLimit: BODY_LIMITS.export, schema: { body: ExportBody }, ...scope("read") },
    async (req, reply) => {
      const body = req.body;
      const service = await svc(req);
      const now = new Date();
      const entries = exportEntries(service, {
        filters: {
          tags: body.tags ?? undefined,
          after: resolveTimeBound("date_from", body.date_from, now),
          before: resolveTimeBound("date_to", body.date_to, now),
          includeSuperseded: true,
          includeExpired: body.include_expired,
        },
        includeEmbeddings: body.include_embeddings,
        limit: body.limit,
      });
      reply.header("content-type", "application/json; charset=utf-8");
      const model = await exportModel(service);
      return reply.send(await streamOf(exportAnswerText(entries, (n) => exportManifest(model, n))));
    },
  );

  // Streaming export: JSONL (or a bundle) without holding the set in memory.
  app.get("/v1/export", { schema: { querystring: ExportQuery }, ...scope("read") }, async (req, reply) => {
    const q = req.query;
    const service = await svc(req);
    const now = new Date();
    const entries = exportEntries(service, {
      filters: {
        tags: q.tags,
        after: resolveTimeBound("date_from", q.date_from, now),
        before: resolveTimeBound("date_to", q.date_to, now),
        includeSuperseded: true,
        includeExpired: q.include_expired ?? false,
      },
      includeEmbeddings: q.include_embeddings ?? false,
    });
    reply.header("content-type", q.format === "jsonl" ? "application/x-ndjson" : "application/json");
    const manifest = exportManifest(await exportModel(service), null);
    const text = q.format === "jsonl" ? jsonlText(entries, manifest) : bundleText(entries, manifest);
    return reply.send(await streamOf(text));
  });

  const importJsonLimit = options.importBodyLimit ?? BODY_LIMITS.importJson;
  const importStreamLimit = options.importStreamLimit ?? BODY_LIMITS.importStream;
  // The body schema documents the JSON bundle; a JSONL stream skips it (route-schemas.ts) and
  // its query is checked here, since a JSON import takes no query.
  app.post(
    "/v1/import",
    { bodyLimit: importJsonLimit, schema: { body: ImportBody }, ...scope("write") },
    async (req, reply) => {
      const service = await svc(req);
      const contentType = String(req.headers["content-type"] ?? "");
      if (contentType.includes("ndjson") || contentType.includes("jsonl")) {
        const q = validate(ImportJsonlQuery, req.query, "query");
        // Refused before a byte is read when the length is declared; counted as it streams otherwise.
        const declared = Number(req.headers["content-length"]);
        if (declared > importStreamLimit) throw bodyTooLarge(importStreamLimit, 0);
        const source = await openJsonlImport(req.body as unknown as Readable, {
          maxBytes: importStreamLimit,
          maxLineBytes: BODY_LIMITS.importLine,
        });
        const summary = await importEntries(service, source, {
          conflict: q.conflict_resolution,
          embeddingStrategy: q.embedding_strategy,
          dryRun: q.dry_run,
          onError: q.on_error,
        });
        return importReply(reply, summary);
      }
      const body = req.body;
      const entries = body.bundle.entries;
      const summary = await importEntries(
        service,
        {
          manifest: body.bundle.manifest,
          items: entries.map((value, i) => ({ line: i + 1, value })),
          total: entries.length,
        },
        {
          conflict: body.conflict_resolution,
          embeddingStrategy: body.embedding_strategy,
          dryRun: body.dry_run,
          onError: body.on_error,
        },
      );
      return importReply(reply, summary);
    },
  );
}

function importReply(reply: FastifyReply, summary: ImportSummary) {
  reply.status(summary.imported > 0 && !summary.dry_run ? 201 : 200);
  return summary;
}

/** One total across a batch, by kind. */
function totalRedactions(outcomes: RememberOutcome[]): RedactionCount[] {
  const total: RedactionCount[] = [];
  for (const o of outcomes) mergeRedactionCounts(total, o.redacted ?? []);
  return total;
}

function storeResponse(o: RememberOutcome) {
  return {
    success: true as const,
    memory_id: o.memory.id,
    duplicate_of: o.duplicateOf,
    ...(o.match ? { match: o.match } : {}),
    ...(o.redacted ? { redacted: o.redacted } : {}),
    memory: o.memory,
  };
}

function recallResponse(query: string, outcome: RecallOutcome, totalMs: number) {
  return {
    results: outcome.results.map((r) => ({
      memory: r.memory,
      similarity_score: r.score,
      retrieval_time_ms: Math.round(totalMs * 100) / 100,
      signals: r.signals,
    })),
    query,
    total_time_ms: Math.round(totalMs * 100) / 100,
    time_filter: outcome.timeFilter
      ? {
          phrase: outcome.timeFilter.phrase,
          after: new Date(outcome.timeFilter.after).toISOString(),
          before: new Date(outcome.timeFilter.before).toISOString(),
          mode: outcome.timeMode ?? "filter",
        }
      : null,
    retrieval: {
      lists: outcome.lists,
      embed_ms: round2(outcome.timings.embedMs),
      search_ms: round2(outcome.timings.searchMs),
    },
    ...(outcome.explain ? { explain: outcome.explain } : {}),
  };
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

/** Query-string recall: numbers and booleans arrive as text; tags as a comma list. */
function coerceQuery(raw: unknown): Record<string, unknown> {
  const q = (raw ?? {}) as Record<string, string>;
  const out: Record<string, unknown> = { ...q };
  if (q.q !== undefined && q.query === undefined) {
    out.query = q.q;
    delete out.q;
  }
  for (const k of ["limit", "min_relevance"]) if (q[k] !== undefined) out[k] = Number(q[k]);
  if (q.include_superseded !== undefined) out.include_superseded = q.include_superseded === "true";
  if (q.explain !== undefined) out.explain = q.explain === "true" || q.explain === "1";
  if (q.tags !== undefined) out.tags = q.tags.split(",").filter(Boolean);
  return out;
}

/**
 * A response body written as `text` yields it. Its first chunk is read before the answer starts,
 * so what fails at once (a store error on the first page) still answers with its own status.
 */
async function streamOf(text: AsyncGenerator<string>): Promise<Readable> {
  const first = await text.next();
  const { Readable } = await import("node:stream");
  return Readable.from(
    (async function* () {
      if (!first.done) yield first.value;
      yield* text;
    })(),
  );
}
