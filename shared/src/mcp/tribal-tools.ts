import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import { DEFAULT_MIN_RELEVANCE } from "../memory/schemas.ts";
import { BUNDLE_HEAD_BYTES, isBundleText } from "../service/bundle-detect.ts";
import { bundleOfJsonl } from "./export-file.ts";
import type { ProjectSource } from "./project-roots.ts";

/**
 * TribalMemory's MCP tools, with its names and parameters so agents' habits carry over. Written
 * once for both transports: each tool is a call through `TribalApi` to the /v1 API — over HTTP
 * from `tribalmemory-mcp` (stdio), in process from the daemon's and relay's `/mcp` route
 * (inject-api.ts), so validation, auth, quotas and audit are the routes' own. Results are
 * structured content; errors are tool errors carrying the server's code and message.
 */
export interface TribalApi {
  /** The JSON answer, or a thrown error with the server's `code` and `message`. */
  call<T>(method: "GET" | "POST" | "DELETE", path: string, body?: unknown, contentType?: string): Promise<T>;
  /** A GET whose answer is read as it arrives (an export to a file); where files can be written. */
  stream?(path: string): Promise<AsyncIterable<Uint8Array>>;
  /** A POST whose body is read as it is sent (an import from a file); where files can be read. */
  upload?<T>(path: string, body: AsyncIterable<Uint8Array>, contentType: string): Promise<T>;
  /** Where the calls go, for messages. */
  readonly url: string;
}

/** Files on the agent's machine: only the stdio server has them (over HTTP a path would name the server's). */
export interface LocalFiles {
  read(path: string): string;
  /** The file's first bytes as text (which kind of file it is). */
  head(path: string, bytes: number): string;
  /** The file's bytes as they are read. */
  stream(path: string): AsyncIterable<Uint8Array>;
  /** Writes the chunks as they come, with mode 600; returns the absolute path written. */
  write(path: string, chunks: AsyncIterable<string>): Promise<string>;
}

export interface ToolContext {
  api: TribalApi;
  /** TRIBAL_MEMORY_INSTANCE_ID, else the MCP client's name from the handshake. */
  instance: () => string;
  /** The project of the client's roots (project-roots.ts). */
  project: ProjectSource;
  files: LocalFiles | null;
}

/** An error a tool raises itself, shaped like the API's (code, message). */
export class ToolError extends Error {
  readonly code: string;
  readonly details: unknown;
  constructor(code: string, message: string, details?: unknown) {
    super(message);
    this.code = code;
    this.details = details;
  }
}

type Json = Record<string, unknown>;

/**
 * The most memories `tribal_export` returns inline. Its answer is one message, held whole by the
 * server that builds it: over HTTP that is the daemon itself, which a 72 MB store under a 128 MB
 * heap ended. 500 entries are at most ~25 MB (32 KiB content, 16 KiB context each), ~0.5 MB
 * typically, already more than an agent reads.
 */
export const INLINE_EXPORT_MAX = 500;
type Extra = Parameters<ProjectSource["current"]>[0];

interface ApiMemory {
  id: string;
  content: string;
  source_type: string;
  source_instance: string;
  tags: string[];
  created_at: string;
  context: unknown;
  project?: string | null;
}
type RecallItem =
  | { type?: "memory"; memory: ApiMemory; similarity_score: number }
  | { type: "session"; similarity_score: number; [k: string]: unknown };

const tags = z.array(z.string().min(1).max(100)).max(64);
const project = z.string().trim().min(1).max(200).optional();

export function registerTribalTools(server: McpServer, ctx: ToolContext): void {
  const api = ctx.api;
  const tool = <S extends z.ZodRawShape>(
    name: string,
    description: string,
    shape: S,
    run: (args: z.infer<z.ZodObject<S>>, extra: Extra) => Promise<Json>,
    annotations: { readOnlyHint?: boolean; destructiveHint?: boolean; idempotentHint?: boolean } = {},
  ) => {
    server.registerTool(name, { description, inputSchema: shape, annotations }, (async (
      args: z.infer<z.ZodObject<S>>,
      extra: Extra,
    ) => {
      try {
        return ok(await run(args, extra));
      } catch (err) {
        return toolError(err);
      }
    }) as never);
  };

  tool(
    "tribal_remember",
    "Store a new memory shared with every agent on this machine (and your team, when synced). Exact and near duplicates are merged.",
    {
      content: z
        .string()
        .min(1)
        .describe("What to remember: one self-contained fact, decision or preference"),
      source_type: z
        .enum(["user_explicit", "auto_capture", "cross_instance"])
        .default("auto_capture")
        .describe(
          "user_explicit: the user asked to remember; auto_capture: you noticed it; cross_instance: from another agent",
        ),
      context: z.string().max(16_384).optional().describe("When/why this was captured"),
      tags: tags.optional().describe('Tags for filtering, e.g. ["preferences", "billing-service"]'),
      skip_dedup: z.boolean().default(false).describe("Store even if a similar memory exists"),
      ttl: z
        .union([z.number().int().positive(), z.string().max(32)])
        .optional()
        .describe(
          'How long it stays true: seconds or a duration like "12h", "7d" (hidden, then forgotten, after)',
        ),
      expires_at: z
        .string()
        .max(64)
        .optional()
        .describe("Or: when it stops being true (ISO 8601, in the future)"),
      project: project.describe("The project it belongs to (default: the one your workspace roots name)"),
    },
    async (a, extra) => {
      const inProject = a.project ?? (await ctx.project.current(extra));
      const r = await api.call<{ memory_id: string; duplicate_of: string | null }>("POST", "/v1/remember", {
        content: a.content,
        source_type: a.source_type,
        context: a.context,
        tags: a.tags,
        skip_dedup: a.skip_dedup,
        ttl: a.ttl,
        expires_at: a.expires_at,
        source_instance: ctx.instance(),
        project: inProject ?? undefined,
      });
      return {
        success: true,
        memory_id: r.memory_id,
        duplicate_of: r.duplicate_of,
        project: inProject,
        error: null,
      };
    },
  );

  tool(
    "tribal_recall",
    "Search memories and/or past session transcripts by meaning and keywords. Scores are 0..1 on one scale for both.",
    {
      query: z.string().min(1).max(4096).describe("Natural-language query"),
      limit: z.number().int().min(1).max(50).default(5).describe("Maximum results (1-50)"),
      min_relevance: z
        .number()
        .min(0)
        .max(1)
        .default(DEFAULT_MIN_RELEVANCE)
        .describe(`Minimum score 0..1 (default ${DEFAULT_MIN_RELEVANCE}; 0 returns every match)`),
      tags: tags.optional().describe("Only memories with one of these tags"),
      sources: z.enum(["memories", "sessions", "all"]).default("memories").describe("What to search"),
      after: z.string().max(200).optional().describe('Created on/after: ISO date or words ("last week")'),
      before: z.string().max(200).optional().describe("Created before: ISO date or words"),
      scope: z
        .enum(["project", "all"])
        .optional()
        .describe(
          "project: only this project's memories; all: every memory, by score. Default: this project's first, then the rest",
        ),
      project: project.describe("The current project (default: the one your workspace roots name)"),
    },
    async (a, extra) => {
      const inProject = a.project ?? (await ctx.project.current(extra));
      if (a.scope === "project" && !inProject) {
        throw new ToolError(
          "NO_PROJECT",
          "scope project needs a project: this client announced no workspace roots. Pass project, or scope all.",
        );
      }
      const r = await api.call<{ results: RecallItem[] }>("POST", "/v1/recall", {
        query: a.query,
        limit: a.limit,
        min_relevance: a.min_relevance,
        tags: a.tags,
        sources: a.sources,
        after: a.after,
        before: a.before,
        project: inProject ?? undefined,
        scope: a.scope,
      });
      const results = r.results.map(recallResult);
      return { results, query: a.query, count: results.length, sources: a.sources, project: inProject };
    },
    { readOnlyHint: true },
  );

  tool(
    "tribal_correct",
    "Correct a memory: stores the corrected fact, which supersedes the original in every recall.",
    {
      original_id: z.string().min(1).describe("memory_id of the memory to correct"),
      corrected_content: z.string().min(1).describe("The corrected information"),
      context: z.string().max(16_384).optional().describe("Why it was corrected"),
    },
    async (a) => {
      const r = await api.call<{ memory_id: string; supersedes: string }>("POST", "/v1/correct", {
        original_id: a.original_id,
        corrected_content: a.corrected_content,
        context: a.context,
        source_instance: ctx.instance(),
      });
      return { success: true, memory_id: r.memory_id, supersedes: r.supersedes, error: null };
    },
  );

  tool(
    "tribal_forget",
    "Forget a memory (hidden from every agent and recall).",
    { memory_id: z.string().min(1).describe("memory_id to forget") },
    async (a) => {
      await api.call("POST", "/v1/forget", { memory_id: a.memory_id });
      return { success: true, memory_id: a.memory_id };
    },
    { destructiveHint: true, idempotentHint: true },
  );

  tool(
    "tribal_stats",
    "Memory statistics: totals by source type, agent instance and tag.",
    {},
    async () => {
      const s = await api.call<Json>("GET", "/v1/stats");
      return { ...s, by_instance: s.by_source_instance };
    },
    { readOnlyHint: true },
  );

  tool(
    "tribal_recall_entity",
    'Recall memories about an entity and its connections ("everything about auth-service").',
    {
      entity_name: z.string().min(1).max(200).describe('Entity, e.g. "auth-service", "PostgreSQL"'),
      hops: z.number().int().min(1).max(10).default(1).describe("Relationship hops to follow"),
      limit: z.number().int().min(1).max(50).default(10).describe("Maximum results"),
    },
    async (a) => {
      const qs = new URLSearchParams({ hops: String(a.hops), limit: String(a.limit) });
      try {
        const r = await api.call<{ results?: RecallItem[]; memories?: ApiMemory[] }>(
          "GET",
          `/v1/entities/${encodeURIComponent(a.entity_name)}/memories?${qs}`,
        );
        const results = (r.results ?? r.memories?.map((m) => ({ memory: m, similarity_score: 1 })) ?? []).map(
          recallResult,
        );
        return { results, entity: a.entity_name, hops: a.hops, count: results.length };
      } catch (err) {
        if (codeOf(err) !== "ROUTE_NOT_FOUND" && codeOf(err) !== "ENTITY_NOT_FOUND") throw err;
        // No entity by that name (or a server without the entity graph, such as an older
        // relay): recall by the name is the next best answer.
        const r = await api.call<{ results: RecallItem[] }>("POST", "/v1/recall", {
          query: a.entity_name,
          limit: a.limit,
        });
        const results = r.results.map(recallResult);
        return {
          results,
          entity: a.entity_name,
          hops: a.hops,
          count: results.length,
          note: "This server has no entity graph; these are recall results for the entity's name.",
        };
      }
    },
    { readOnlyHint: true },
  );

  tool(
    "tribal_entity_graph",
    "The relationship graph around an entity: entities (name, type) and relationships (source, target, type).",
    {
      entity_name: z.string().min(1).max(200).describe("Entity to explore"),
      hops: z.number().int().min(1).max(5).default(2).describe("Relationship hops to include"),
    },
    async (a) => {
      const qs = new URLSearchParams({ entity: a.entity_name, hops: String(a.hops) });
      try {
        return await api.call<Json>("GET", `/v1/graph?${qs}`);
      } catch (err) {
        if (codeOf(err) === "ROUTE_NOT_FOUND") {
          throw new ToolError(
            "ENTITY_GRAPH_UNAVAILABLE",
            `${api.url} has no entity graph (GET /v1/graph is missing): upgrade the daemon, or use tribal_recall_entity.`,
          );
        }
        throw err;
      }
    },
    { readOnlyHint: true },
  );

  tool(
    "tribal_export",
    "Export memories to a portable JSON bundle (inline, or written to output_path).",
    {
      tags: tags.optional().describe("Only memories with any of these tags"),
      date_from: z.string().max(200).optional().describe("ISO 8601 lower bound (created_at)"),
      date_to: z.string().max(200).optional().describe("ISO 8601 upper bound (created_at)"),
      output_path: z
        .string()
        .min(1)
        .optional()
        .describe("Write the bundle to this file instead of returning it"),
    },
    async (a) => {
      const files = a.output_path ? localFiles(ctx, "output_path") : null;
      // To a file: streamed (GET's tags are comma-separated, so a tag holding one is asked by POST).
      if (files && a.output_path && api.stream && !a.tags?.some((t) => t.includes(","))) {
        const query = new URLSearchParams({ format: "jsonl" });
        if (a.tags?.length) query.set("tags", a.tags.join(","));
        if (a.date_from) query.set("date_from", a.date_from);
        if (a.date_to) query.set("date_to", a.date_to);
        const count = { n: 0 };
        const body = await api.stream(`/v1/export?${query}`);
        const path = await files.write(a.output_path, bundleOfJsonl(body, count));
        return { success: true, memory_count: count.n, output_path: path };
      }
      // Inline, the answer is one message the server holds whole (the daemon's own, over HTTP):
      // bounded, one entry past the bound asked to tell that more match.
      const inline = !files;
      const r = await api.call<{ memory_count: number; bundle: { manifest: Json; entries: unknown[] } }>(
        "POST",
        "/v1/export",
        {
          tags: a.tags,
          date_from: a.date_from,
          date_to: a.date_to,
          ...(inline ? { limit: INLINE_EXPORT_MAX + 1 } : {}),
        },
      );
      if (inline && r.memory_count > INLINE_EXPORT_MAX) {
        throw new ToolError(
          "EXPORT_TOO_LARGE",
          `More than ${INLINE_EXPORT_MAX} memories match: too many for one MCP answer. Pass output_path to the stdio server (tribalmemory-mcp), narrow by tags or dates, or use \`tribalmemory export\` (GET /v1/export streams).`,
        );
      }
      if (files && a.output_path) {
        const path = await files.write(
          a.output_path,
          (async function* () {
            yield JSON.stringify(r.bundle);
          })(),
        );
        return { success: true, memory_count: r.memory_count, output_path: path };
      }
      return {
        success: true,
        memory_count: r.memory_count,
        manifest: r.bundle.manifest,
        entries: r.bundle.entries,
      };
    },
    { readOnlyHint: true },
  );

  tool(
    "tribal_import",
    "Import memories from a portable JSON bundle or a JSONL export (a file path, or the bundle inline).",
    {
      input_path: z.string().min(1).optional().describe("Path to a bundle .json or a .jsonl export"),
      bundle_json: z.string().min(1).optional().describe("The bundle as a JSON string"),
      conflict_resolution: z.enum(["skip", "overwrite", "merge"]).default("skip"),
      embedding_strategy: z.enum(["auto", "keep", "drop"]).default("auto"),
      dry_run: z.boolean().default(false).describe("Report what would change, write nothing"),
    },
    async (a) => {
      if (!a.input_path && !a.bundle_json)
        throw new ToolError("VALIDATION_FAILED", "Provide input_path or bundle_json.");
      const options = {
        conflict_resolution: a.conflict_resolution,
        embedding_strategy: a.embedding_strategy,
        dry_run: a.dry_run,
      };
      const jsonlQuery = () => new URLSearchParams({ ...options, dry_run: String(a.dry_run) });
      let text: string;
      if (a.input_path) {
        const files = localFiles(ctx, "input_path");
        const readable = <T>(read: () => T): T => {
          try {
            return read();
          } catch (err) {
            throw new ToolError(
              "VALIDATION_FAILED",
              `Cannot read ${a.input_path}: ${(err as Error).message}`,
            );
          }
        };
        // A JSONL file is sent as it is read (up to the import stream's 1 GiB); read whole, one
        // larger than the MCP server's heap ended it.
        const head = api.upload ? readable(() => files.head(a.input_path as string, BUNDLE_HEAD_BYTES)) : "";
        if (api.upload && !isBundleText(head, Buffer.byteLength(head) >= BUNDLE_HEAD_BYTES)) {
          const body = files.stream(a.input_path);
          const summary = await api.upload<Json>(`/v1/import?${jsonlQuery()}`, body, "application/x-ndjson");
          return { success: true, ...summary };
        }
        text = readable(() => files.read(a.input_path as string));
      } else {
        text = a.bundle_json as string;
      }
      if (isBundleText(text)) {
        let parsed: Json;
        try {
          parsed = JSON.parse(text) as Json;
        } catch (err) {
          throw new ToolError("INVALID_JSON", `The bundle is not valid JSON: ${(err as Error).message}`);
        }
        const bundle = (parsed.bundle as Json | undefined) ?? parsed;
        return { success: true, ...(await api.call<Json>("POST", "/v1/import", { bundle, ...options })) };
      }
      return {
        success: true,
        ...(await api.call<Json>("POST", `/v1/import?${jsonlQuery()}`, text, "application/x-ndjson")),
      };
    },
  );

  tool(
    "tribal_sessions_ingest",
    "Index a session transcript for search. Send only new messages (deltas); resending is harmless. Chunks of ~300 words.",
    {
      session_id: z.string().min(1).max(200).describe("Unique id of the session"),
      messages: z
        .union([
          z.string().describe("JSON array of {role, content, timestamp?}"),
          z.array(
            z.object({
              role: z.string().min(1),
              content: z.string(),
              timestamp: z.string().optional(),
              id: z.string().optional(),
            }),
          ),
        ])
        .describe(
          'Messages: [{"role":"user","content":"…","timestamp":"ISO 8601"}], as an array or a JSON string',
        ),
      instance_id: z.string().min(1).max(200).optional().describe("Override the agent instance id"),
    },
    async (a) => {
      let messages: unknown = a.messages;
      if (typeof messages === "string") {
        try {
          messages = JSON.parse(messages);
        } catch (err) {
          throw new ToolError("INVALID_JSON", `messages is not valid JSON: ${(err as Error).message}`);
        }
      }
      if (!Array.isArray(messages)) throw new ToolError("VALIDATION_FAILED", "messages must be a JSON array");
      return api.call<Json>("POST", "/v1/sessions/ingest", {
        session_id: a.session_id,
        messages,
        instance_id: a.instance_id ?? ctx.instance(),
        source: "mcp",
      });
    },
    { idempotentHint: true },
  );
}

function recallResult(r: RecallItem): Json {
  if (r.type === "session") return r;
  const m = (r as { memory: ApiMemory }).memory;
  return {
    type: "memory",
    memory_id: m.id,
    content: m.content,
    similarity_score: r.similarity_score,
    source_type: m.source_type,
    source_instance: m.source_instance,
    tags: m.tags,
    created_at: m.created_at,
    context: m.context,
    ...(m.project ? { project: m.project } : {}),
  };
}

function ok(result: Json): CallToolResult {
  return { content: [{ type: "text", text: JSON.stringify(result) }], structuredContent: result };
}

/**
 * A bundle (one JSON object), not a JSONL export, whose first line is its manifest alone; from
 * the whole text or its first bytes.
 */
function localFiles(ctx: ToolContext, field: string): LocalFiles {
  if (ctx.files) return ctx.files;
  throw new ToolError(
    "LOCAL_FILES_UNAVAILABLE",
    `${field} names a file on the agent's machine, which this MCP server over HTTP cannot reach: pass bundle_json (import) or leave output_path out (export), or use the stdio server tribalmemory-mcp.`,
  );
}

/** The stable code of an error from the API (ApiError, TribalError, ToolError): they all carry one. */
function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

function toolError(err: unknown): CallToolResult {
  const code = codeOf(err);
  const e = err as { message?: string; details?: unknown } | null;
  // Errors without a code of ours (a bug, a dropped socket) say which server failed.
  const error = code
    ? { code, message: e?.message ?? code, ...(e?.details ? { details: e.details } : {}) }
    : { code: "INTERNAL", message: `tribalmemory MCP tool failed: ${e?.message ?? String(err)}` };
  return {
    isError: true,
    content: [{ type: "text", text: `${error.code}: ${error.message}` }],
    structuredContent: { error },
  };
}
