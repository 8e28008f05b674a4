import { z } from "zod";
import type { Connection } from "./config.ts";
import { isLoopbackUrl, readLocalToken } from "./daemon-locator.ts";

/**
 * The plugin's client of the /v1 API (daemon or relay). It runs inside the OpenClaw Gateway, so
 * it uses the runtime's `fetch` and nothing native: the CLI's client (cli/src/client.ts) comes
 * with the daemon's dependencies, which an OpenClaw install talking to a relay must not need.
 * Answers are parsed with the fields the plugin reads (the servers' response schemas are open).
 */

/**
 * A failed call: the server's code (`UNAUTHENTICATED`, `VALIDATION_FAILED`, …), or the client's
 * (`DAEMON_UNREACHABLE`, `RELAY_UNREACHABLE`, `BAD_RESPONSE`) with status 0 when no usable answer came.
 */
export class TribalApiError extends Error {
  readonly code: string;
  readonly status: number;
  constructor(status: number, code: string, message: string) {
    super(`${code}: ${message}`);
    this.code = code;
    this.status = status;
  }
}

const Memory = z.object({
  id: z.string(),
  content: z.string(),
  tags: z.array(z.string()),
  source_instance: z.string(),
  created_at: z.string(),
});
export type RecalledMemory = z.infer<typeof Memory>;

const RecallAnswer = z.object({
  results: z.array(z.object({ memory: Memory.optional(), similarity_score: z.number() })),
});
export interface RecallHit {
  memory: RecalledMemory;
  score: number;
}

const StoreAnswer = z.object({ memory_id: z.string(), duplicate_of: z.string().nullable() });
export type StoreOutcome = z.infer<typeof StoreAnswer>;

const ForgetAnswer = z.object({ memory_id: z.string(), deleted: z.literal(true) });

export interface RememberInput {
  content: string;
  source_type: "user_explicit" | "auto_capture";
  source_instance: string;
  tags?: string[];
  context?: Record<string, unknown>;
}

export interface RecallInput {
  query: string;
  limit: number;
  min_relevance: number;
  tags?: string[];
  after?: string;
  before?: string;
}

/** Calls past this are abandoned: a hook must not hold an agent turn on a hung server. */
const CALL_TIMEOUT_MS = 10_000;

export class TribalMemoryClient {
  readonly connection: Connection;
  constructor(connection: Connection) {
    this.connection = connection;
  }

  /** Bearer key for a relay; for a loopback daemon its local token, read at each call (it may restart). */
  authHeaders(): Record<string, string> {
    const { apiKey, baseUrl, home } = this.connection;
    if (apiKey) return { authorization: `Bearer ${apiKey}` };
    const token = isLoopbackUrl(baseUrl) ? readLocalToken(home) : null;
    return token ? { "x-tribal-token": token } : {};
  }

  async recall(input: RecallInput): Promise<RecallHit[]> {
    const answer = RecallAnswer.parse(
      await this.call("POST", "/v1/recall", { ...input, sources: "memories" }),
    );
    return answer.results.flatMap((r) => (r.memory ? [{ memory: r.memory, score: r.similarity_score }] : []));
  }

  async remember(input: RememberInput): Promise<StoreOutcome> {
    return StoreAnswer.parse(await this.call("POST", "/v1/remember", input));
  }

  async forget(memoryId: string): Promise<string> {
    return ForgetAnswer.parse(await this.call("POST", "/v1/forget", { memory_id: memoryId })).memory_id;
  }

  private async call(method: "POST" | "GET", path: string, body?: unknown): Promise<unknown> {
    const { baseUrl, apiKey } = this.connection;
    let res: Response;
    try {
      res = await fetch(`${baseUrl}${path}`, {
        method,
        headers: { "content-type": "application/json", ...this.authHeaders() },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
      // The codes of shared/src/errors.ts that the CLI and MCP server use for the same failure.
      throw apiKey
        ? new TribalApiError(
            0,
            "RELAY_UNREACHABLE",
            `No TribalMemory relay answered at ${baseUrl} (${cause}). Check serverUrl in the memory-tribal config.`,
          )
        : new TribalApiError(
            0,
            "DAEMON_UNREACHABLE",
            `No TribalMemory daemon at ${baseUrl} (${cause}). Start it with \`tribalmemory daemon start\`, or set serverUrl in the memory-tribal config.`,
          );
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      throw new TribalApiError(
        res.status,
        "BAD_RESPONSE",
        `${baseUrl} answered with something that is not JSON: is serverUrl a TribalMemory server?`,
      );
    }
    if (!res.ok) {
      const e = (json as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new TribalApiError(res.status, e?.code ?? `HTTP_${res.status}`, e?.message ?? text.slice(0, 200));
    }
    return json;
  }
}
