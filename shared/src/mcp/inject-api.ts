import type { FastifyInstance } from "fastify";
import type { TribalApi } from "./tribal-tools.ts";
import { ToolError } from "./tribal-tools.ts";

/**
 * The /v1 API of the server this MCP route runs in, called in process (Fastify's inject: no
 * socket, no port) with the caller's own credentials. The tools then pass the same schemas,
 * guards, scopes, quotas and audit as any HTTP client's calls, and are written once for stdio
 * and HTTP.
 */
export function injectedApi(
  app: FastifyInstance,
  credentials: Record<string, string>,
  url: string,
): TribalApi {
  return {
    url,
    async call<T>(
      method: "GET" | "POST" | "DELETE",
      path: string,
      body?: unknown,
      contentType = "application/json",
    ): Promise<T> {
      const res = await app.inject({
        method,
        url: path,
        headers: { ...credentials, ...(body !== undefined ? { "content-type": contentType } : {}) },
        ...(body !== undefined ? { payload: typeof body === "string" ? body : JSON.stringify(body) } : {}),
      });
      let json: unknown;
      try {
        json = JSON.parse(res.body);
      } catch {
        throw new ToolError("BAD_RESPONSE", `${method} ${path} answered ${res.statusCode} without JSON.`);
      }
      if (res.statusCode >= 400) {
        const e = (json as { error?: { code?: string; message?: string; details?: unknown } }).error;
        throw new ToolError(e?.code ?? `HTTP_${res.statusCode}`, e?.message ?? res.body, e?.details);
      }
      return json as T;
    },
  };
}
