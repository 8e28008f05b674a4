import type { PluginConfig } from "./config.ts";

/**
 * Token budgets for recalled memories: per recall, per agent turn and per session. A token is
 * estimated as 4 characters (no tokenizer of the user's model is at hand in a plugin, and the
 * budgets are about keeping memory from crowding the context, not exact billing).
 */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

interface TurnState {
  key: string;
  spent: number;
  /** The context given to this turn, handed out again when the host rebuilds the same prompt. */
  context?: string;
}

interface SessionState {
  spent: number;
  /** Memories this session was already shown: they are in its transcript, so not repeated. */
  shown: Set<string>;
  /** Normalised texts auto-capture has looked at, so a message still in the transcript is not reconsidered. */
  captured: Set<string>;
  turn: TurnState | null;
}

/** Sessions kept at most; the oldest is dropped (a Gateway runs for weeks). */
const MAX_SESSIONS = 1_000;

export class MemoryBudget {
  private readonly sessions = new Map<string, SessionState>();
  private readonly limits: Pick<
    PluginConfig,
    "maxTokensPerRecall" | "maxTokensPerTurn" | "maxTokensPerSession"
  >;

  constructor(limits: Pick<PluginConfig, "maxTokensPerRecall" | "maxTokensPerTurn" | "maxTokensPerSession">) {
    this.limits = limits;
  }

  session(sessionKey: string): SessionState {
    let s = this.sessions.get(sessionKey);
    if (s) {
      // Map order is insertion order: re-insert to mark as recently used.
      this.sessions.delete(sessionKey);
    } else {
      s = { spent: 0, shown: new Set(), captured: new Set(), turn: null };
    }
    this.sessions.set(sessionKey, s);
    if (this.sessions.size > MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value as string);
    return s;
  }

  /** The turn `turnKey` of a session, started if new (a new turn resets the per-turn count). */
  turn(sessionKey: string, turnKey: string): TurnState {
    const s = this.session(sessionKey);
    if (s.turn?.key !== turnKey) s.turn = { key: turnKey, spent: 0 };
    return s.turn;
  }

  /** Tokens one more recall may use now: the smallest of the three budgets' remainders. */
  available(sessionKey: string): number {
    const s = this.session(sessionKey);
    const turnLeft = this.limits.maxTokensPerTurn - (s.turn?.spent ?? 0);
    const sessionLeft = this.limits.maxTokensPerSession - s.spent;
    return Math.max(0, Math.min(this.limits.maxTokensPerRecall, turnLeft, sessionLeft));
  }

  /** Records what a recall put into the context. */
  charge(sessionKey: string, tokens: number, memoryIds: string[]): void {
    const s = this.session(sessionKey);
    s.spent += tokens;
    if (s.turn) s.turn.spent += tokens;
    for (const id of memoryIds) s.shown.add(id);
  }

  spent(sessionKey: string): { session: number; turn: number } {
    const s = this.session(sessionKey);
    return { session: s.spent, turn: s.turn?.spent ?? 0 };
  }

  endSession(sessionKey: string): void {
    this.sessions.delete(sessionKey);
  }
}
