import { randomUUID } from "node:crypto";
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";

/**
 * MCP over Streamable HTTP at `/mcp`, for the daemon and the relay alike (each says who may
 * call and builds the server; tribal-mcp-server.ts).
 *
 * Stateful, with sessions: project scopes ask the client for its roots (`roots/list`), a request
 * from server to client whose answer arrives in a later POST, and `roots/list_changed` arrives
 * later still; both must reach the server object that asked. A stateless server (one per POST)
 * would have forgotten the question. Sessions live in this process's memory: an unknown or
 * expired one answers 404, on which the MCP client starts a new one (the spec's rule), so a
 * restart or another relay process behind a balancer costs a new handshake, not an error.
 * A session is bound to the credential that opened it: another key cannot use its id.
 */
export interface McpCaller {
  /** Who opened the session (a key id, the local token's holder); later requests must match. */
  owner: string;
  /** A new server for a new session, calling the API as this caller. */
  createServer(): McpServer;
}

export interface McpRouteOptions {
  /** Refuses (throws a TribalError) or names the caller; runs before anything is parsed as MCP. */
  caller(req: FastifyRequest): Promise<McpCaller> | McpCaller;
  /** Sessions kept at most; the least recently used goes first. */
  maxSessions?: number;
  /** Sessions one caller may hold: past it, its own oldest goes, so one key cannot evict the others'. */
  maxSessionsPerOwner?: number;
  /** A session idle this long is closed. */
  idleMs?: number;
}

interface Session {
  owner: string;
  transport: StreamableHTTPServerTransport;
  server: McpServer;
  lastUsed: number;
}

export const MCP_PATH = "/mcp";

export function registerMcpRoute(app: FastifyInstance, options: McpRouteOptions): void {
  const maxSessions = options.maxSessions ?? 256;
  const maxPerOwner = options.maxSessionsPerOwner ?? maxSessions;
  const idleMs = options.idleMs ?? 30 * 60_000;
  const sessions = new Map<string, Session>();

  const close = (id: string) => {
    const s = sessions.get(id);
    if (!s) return;
    sessions.delete(id);
    void s.server.close().catch(() => undefined);
  };
  const sweep = setInterval(
    () => {
      const cutoff = Date.now() - idleMs;
      for (const [id, s] of sessions) if (s.lastUsed < cutoff) close(id);
    },
    Math.min(idleMs, 60_000),
  );
  sweep.unref();
  // Before the server stops listening: an open event stream (GET /mcp) would hold the close.
  app.addHook("preClose", async () => {
    clearInterval(sweep);
    for (const id of [...sessions.keys()]) close(id);
  });

  const open = async (caller: McpCaller): Promise<Session> => {
    const server = caller.createServer();
    const session: Session = { owner: caller.owner, server, transport: null as never, lastUsed: Date.now() };
    session.transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        const own = [...sessions].filter(([, s]) => s.owner === caller.owner);
        if (own.length >= maxPerOwner) close(own[0][0]);
        else if (sessions.size >= maxSessions) close(sessions.keys().next().value as string);
        sessions.set(id, session);
      },
      onsessionclosed: (id) => close(id),
    });
    await server.connect(session.transport);
    return session;
  };

  const handle = async (req: FastifyRequest, reply: FastifyReply) => {
    const caller = await options.caller(req);
    const id = one(req.headers["mcp-session-id"]);
    let session: Session | undefined;
    if (id !== undefined) {
      session = sessions.get(id);
      if (!session || session.owner !== caller.owner) {
        return rpcError(reply, 404, -32001, "Session not found: start a new one with initialize.");
      }
      // Most recently used last, so the first key is the one to evict.
      sessions.delete(id);
      sessions.set(id, session);
    } else if (req.method === "POST" && isInitializeRequest(req.body)) {
      const fresh = await open(caller);
      reply.hijack();
      await fresh.transport.handleRequest(req.raw, reply.raw, req.body);
      // A refused handshake (wrong Accept header, bad version) never became a session.
      const sid = fresh.transport.sessionId;
      if (sid === undefined || sessions.get(sid) !== fresh) void fresh.server.close().catch(() => undefined);
      return;
    } else {
      return rpcError(
        reply,
        400,
        -32000,
        "No Mcp-Session-Id: send initialize first, then the session id it returns with every request.",
      );
    }
    session.lastUsed = Date.now();
    reply.hijack();
    await session.transport.handleRequest(req.raw, reply.raw, req.body);
  };

  app.post(MCP_PATH, handle);
  app.get(MCP_PATH, handle);
  app.delete(MCP_PATH, handle);
}

function rpcError(reply: FastifyReply, status: number, code: number, message: string) {
  return reply.status(status).send({ jsonrpc: "2.0", error: { code, message }, id: null });
}

function one(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}
