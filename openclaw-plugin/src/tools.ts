import type { AnyAgentTool, OpenClawPluginToolContext } from "openclaw/plugin-sdk/plugin-entry";
import { z } from "zod";
import { TribalApiError } from "./client.ts";
import type { MemoryTribal } from "./memory-tribal.ts";

/**
 * The agent tools, named and shaped like the MCP server's (cli/src/mcp/tools.ts), so an agent
 * that learnt `tribal_recall` over MCP finds the same tool here. Each zod schema is both the
 * JSON schema OpenClaw shows the model and the validation of what the model sends.
 */
const tag = z.string().trim().min(1).max(100);

const RecallParams = z.strictObject({
  query: z.string().trim().min(1).max(4096).describe("Natural-language query"),
  limit: z.number().int().min(1).max(50).default(5).describe("Maximum results (1-50)"),
  min_relevance: z.number().min(0).max(1).default(0).describe("Minimum score 0..1"),
  tags: z.array(tag).max(50).optional().describe("Only memories with one of these tags"),
  after: z.string().max(200).optional().describe('Created on/after: ISO date or words ("last week")'),
  before: z.string().max(200).optional().describe("Created before: ISO date or words"),
});

const RememberParams = z.strictObject({
  content: z
    .string()
    .trim()
    .min(1)
    .describe("What to remember: one self-contained fact, decision or preference"),
  source_type: z
    .enum(["user_explicit", "auto_capture"])
    .default("auto_capture")
    .describe("user_explicit: the user asked to remember; auto_capture: you noticed it"),
  tags: z
    .array(tag)
    .max(50)
    .optional()
    .describe('Tags for filtering, e.g. ["preferences", "billing-service"]'),
});

const ForgetParams = z.strictObject({
  memory_id: z.string().trim().min(1).describe("memory_id to forget (from tribal_recall or tribal_remember)"),
});

function parameters(schema: z.ZodType): AnyAgentTool["parameters"] {
  const { $schema: _, ...json } = z.toJSONSchema(schema, { io: "input" }) as Record<string, unknown>;
  return json as unknown as AnyAgentTool["parameters"];
}

/** The model's arguments, validated; a VALIDATION_FAILED error names the field otherwise. */
function validate<T extends z.ZodType>(schema: T, params: unknown): z.infer<T> {
  const parsed = schema.safeParse(params ?? {});
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new TribalApiError(
    422,
    "VALIDATION_FAILED",
    `${issue.path.join(".") || "arguments"}: ${issue.message}`,
  );
}

function text(t: string, details: unknown) {
  return { content: [{ type: "text" as const, text: t }], details };
}

export const TOOL_NAMES = ["tribal_recall", "tribal_remember", "tribal_forget"] as const;

/** The tools for one agent context (its session, for the budgets; its agent, for `source_instance`). */
export function memoryTools(plugin: MemoryTribal, ctx: OpenClawPluginToolContext): AnyAgentTool[] {
  const sessionKey = ctx.sessionKey ?? ctx.sessionId ?? "main";
  const recall: AnyAgentTool = {
    name: "tribal_recall",
    label: "Recall memories",
    description:
      "Search TribalMemory, the memory shared by every agent of this user and team, by meaning and keywords. Call it before answering about past decisions, preferences or project facts.",
    parameters: parameters(RecallParams),
    async execute(_id: string, params: unknown) {
      const a = validate(RecallParams, params);
      const { context, found } = await plugin.recallWithinBudget(a, sessionKey);
      if (!context) {
        const room = plugin.budget.available(sessionKey);
        return text(
          room < 50 || found > 0
            ? "No memory budget left for this turn or session (maxTokensPerTurn / maxTokensPerSession in the memory-tribal config)."
            : "No memories found that were not already shown in this session.",
          { count: 0, memory_ids: [] },
        );
      }
      return text(context.text, { count: context.memoryIds.length, memory_ids: context.memoryIds });
    },
  };
  const remember: AnyAgentTool = {
    name: "tribal_remember",
    label: "Remember",
    description:
      "Store a memory shared with every agent of this user (and their team, when synced). Exact and near duplicates are merged.",
    parameters: parameters(RememberParams),
    async execute(_id: string, params: unknown) {
      const a = validate(RememberParams, params);
      const outcome = await plugin.client.remember({
        content: a.content,
        source_type: a.source_type,
        source_instance: plugin.instance(ctx.agentId),
        tags: ["openclaw", ...(a.tags ?? [])],
      });
      return text(
        outcome.duplicate_of
          ? `Already remembered (duplicate of ${outcome.duplicate_of}).`
          : `Remembered as ${outcome.memory_id}.`,
        outcome,
      );
    },
  };
  const forget: AnyAgentTool = {
    name: "tribal_forget",
    label: "Forget memory",
    description: "Forget a memory: hidden from every agent and from recall.",
    parameters: parameters(ForgetParams),
    async execute(_id: string, params: unknown) {
      const a = validate(ForgetParams, params);
      const id = await plugin.client.forget(a.memory_id);
      return text(`Forgotten ${id}.`, { memory_id: id, deleted: true });
    },
  };
  return [recall, remember, forget];
}
