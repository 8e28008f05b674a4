import { MemoryBudget } from "./budget.ts";
import { durableFacts, messageText, normalizeForDedup } from "./capture.ts";
import { type RecallInput, TribalApiError, TribalMemoryClient } from "./client.ts";
import { type PluginConfig, resolveConnection } from "./config.ts";
import { type FittedContext, fitRecallContext } from "./recall-context.ts";

/** The subset of OpenClaw's plugin logger the plugin writes to (counts and codes, never memory text or keys). */
export interface Logger {
  info: (message: string) => void;
  warn: (message: string) => void;
}

/** Which session and turn a recall belongs to, for the budgets. */
export interface TurnRef {
  sessionKey: string;
  turnKey: string;
}

export interface CaptureReport {
  considered: number;
  stored: number;
  duplicates: number;
  failed: number;
}

/**
 * What the plugin does, apart from how OpenClaw calls it (index.ts wires hooks, tools and the
 * command to these methods): recall within budgets, capture durable facts, remember, forget.
 */
export class MemoryTribal {
  readonly config: PluginConfig;
  readonly client: TribalMemoryClient;
  readonly budget: MemoryBudget;
  private readonly logger: Logger;

  constructor(config: PluginConfig, logger: Logger, env: NodeJS.ProcessEnv = process.env) {
    this.config = config;
    this.client = new TribalMemoryClient(resolveConnection(config, env));
    this.budget = new MemoryBudget(config);
    this.logger = logger;
  }

  instance(agentId: string | undefined): string {
    return this.config.instance ?? `openclaw:${agentId ?? "main"}`;
  }

  /**
   * Context for the turn's prompt: memories relevant to `query` not yet shown in this session,
   * within the budgets. The same turn rebuilt by the host gets the same context at no new cost.
   * Null when there is nothing (or no room) to add; a server that fails is logged, never thrown:
   * a memory outage must not stop the agent.
   */
  async contextForTurn(query: string, ref: TurnRef): Promise<string | null> {
    const q = query.trim();
    if (q.length < 3 || q.startsWith("/")) return null;
    const turn = this.budget.turn(ref.sessionKey, ref.turnKey);
    if (turn.context !== undefined) return turn.context || null;
    const fitted = await this.recallWithinBudget(
      { query: q.slice(0, 1_000), limit: this.config.recallLimit, min_relevance: this.config.minRelevance },
      ref.sessionKey,
    ).then(
      (r) => r.context,
      (err: unknown) => {
        this.logger.warn(`memory-tribal: auto-recall skipped: ${errorCode(err)}`);
        return null;
      },
    );
    turn.context = fitted?.text ?? "";
    return fitted?.text ?? null;
  }

  /**
   * A recall whose answer fits what the budgets leave; already-shown memories left out.
   * `found`: how many new memories matched (more than zero with no context: no room for them).
   */
  async recallWithinBudget(
    input: RecallInput,
    sessionKey: string,
  ): Promise<{ context: FittedContext | null; found: number }> {
    const room = this.budget.available(sessionKey);
    if (room < 50) return { context: null, found: 0 };
    const shown = this.budget.session(sessionKey).shown;
    // Ask for more than the limit: the ones this session has seen are dropped below.
    const hits = await this.client.recall({ ...input, limit: Math.min(100, input.limit + shown.size) });
    const fresh = hits.filter((h) => !shown.has(h.memory.id)).slice(0, input.limit);
    const context = fitRecallContext(fresh, room);
    if (context) this.budget.charge(sessionKey, context.tokens, context.memoryIds);
    return { context, found: fresh.length };
  }

  /**
   * Stores the durable facts the user stated in `messages` (newest first, at most
   * maxCapturesPerTurn new ones). A text this session already looked at is skipped here; one
   * stored before (another session, another agent) comes back from the server as a duplicate.
   */
  async captureTurn(
    messages: unknown[],
    ref: { sessionKey: string; agentId?: string },
  ): Promise<CaptureReport> {
    const report: CaptureReport = { considered: 0, stored: 0, duplicates: 0, failed: 0 };
    const seen = this.budget.session(ref.sessionKey).captured;
    const userTexts = messages
      .map(messageText)
      .filter((m): m is { role: string; text: string } => m?.role === "user")
      .reverse();
    for (const { text } of userTexts) {
      for (const fact of durableFacts(text, this.config.maxCapturesPerTurn)) {
        if (report.considered >= this.config.maxCapturesPerTurn) return this.logCapture(report);
        const key = normalizeForDedup(fact.content);
        if (seen.has(key)) continue;
        seen.add(key);
        report.considered++;
        try {
          const outcome = await this.client.remember({
            content: fact.content,
            source_type: fact.kind === "explicit" ? "user_explicit" : "auto_capture",
            source_instance: this.instance(ref.agentId),
            tags: ["openclaw", "auto-capture", fact.kind],
            context: { captured_by: "memory-tribal", kind: fact.kind },
          });
          if (outcome.duplicate_of) report.duplicates++;
          else report.stored++;
        } catch (err) {
          report.failed++;
          // Not seen after all: a later turn may try again once the server is back.
          seen.delete(key);
          this.logger.warn(`memory-tribal: auto-capture failed: ${errorCode(err)}`);
          if (err instanceof TribalApiError && err.status === 0) return this.logCapture(report);
        }
      }
    }
    return this.logCapture(report);
  }

  private logCapture(report: CaptureReport): CaptureReport {
    if (report.considered > 0) {
      this.logger.info(
        `memory-tribal: auto-capture stored ${report.stored}, duplicates ${report.duplicates}, failed ${report.failed}`,
      );
    }
    return report;
  }
}

/** A stable code for logs (the message may hold a URL; never memory text or keys). */
export function errorCode(err: unknown): string {
  if (err instanceof TribalApiError) return err.code;
  return err instanceof Error ? err.name : "UNKNOWN";
}
