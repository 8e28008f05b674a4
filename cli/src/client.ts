import { existsSync, readFileSync } from "node:fs";
import type { DaemonConfig } from "@tribalmemory/shared/config/config";
import { daemonInfoPath } from "@tribalmemory/shared/config/paths";
import { request } from "undici";

export class ApiError extends Error {
  readonly code: string;
  readonly status: number;
  readonly details: unknown;
  constructor(status: number, code: string, message: string, details?: unknown) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/** Where the daemon is: --url, TRIBAL_MEMORY_URL, the running daemon's info file, or the config's port. */
export function daemonUrl(config: DaemonConfig, flag?: string): string {
  if (flag) return flag.replace(/\/$/, "");
  if (process.env.TRIBAL_MEMORY_URL) return process.env.TRIBAL_MEMORY_URL.replace(/\/$/, "");
  const info = daemonInfoPath(config.dataDir);
  if (existsSync(info)) {
    try {
      return (JSON.parse(readFileSync(info, "utf8")) as { url: string }).url;
    } catch {
      // fall back to the configured port
    }
  }
  return `http://127.0.0.1:${config.port}`;
}

/** A small HTTP client of the /v1 API (daemon or relay). */
export class TribalClient {
  readonly baseUrl: string;
  private readonly apiKey: string | null;
  constructor(baseUrl: string, apiKey: string | null = null) {
    this.baseUrl = baseUrl;
    this.apiKey = apiKey;
  }

  async call<T>(
    method: "GET" | "POST" | "DELETE",
    path: string,
    body?: unknown,
    contentType = "application/json",
  ): Promise<T> {
    let res: Awaited<ReturnType<typeof request>>;
    try {
      res = await request(`${this.baseUrl}${path}`, {
        method,
        headers: {
          ...(body !== undefined ? { "content-type": contentType } : {}),
          ...(this.apiKey ? { authorization: `Bearer ${this.apiKey}` } : {}),
        },
        body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
      });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ECONNREFUSED" || code === "UND_ERR_CONNECT_TIMEOUT") {
        throw new ApiError(
          0,
          "DAEMON_UNREACHABLE",
          `No TribalMemory daemon at ${this.baseUrl}. Start it with \`tribalmemory daemon start\`.`,
        );
      }
      throw err;
    }
    const text = await res.body.text();
    const json = text ? (JSON.parse(text) as unknown) : undefined;
    if (res.statusCode >= 400) {
      const e = (json as { error?: { code: string; message: string; details?: unknown } })?.error;
      throw new ApiError(res.statusCode, e?.code ?? `HTTP_${res.statusCode}`, e?.message ?? text, e?.details);
    }
    return json as T;
  }
}
