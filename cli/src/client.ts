import { existsSync, readFileSync } from "node:fs";
import { Readable } from "node:stream";
import { type DaemonConfig, tribalHome } from "@tribalmemory/shared/config/config";
import { readLocalToken } from "@tribalmemory/shared/config/local-token";
import { daemonInfoPath } from "@tribalmemory/shared/config/paths";
import { isLoopbackUrl } from "@tribalmemory/shared/http/loopback";
import { type Dispatcher, request } from "undici";

/**
 * An error of a /v1 call: the server's code and message, or the client's own (DAEMON_UNREACHABLE,
 * DAEMON_CONNECTION_LOST, RELAY_UNREACHABLE, BAD_RESPONSE) with status 0 when no usable answer came.
 */
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

type Method = "GET" | "POST" | "DELETE";

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

/**
 * The daemon's local token for this URL: TRIBAL_MEMORY_LOCAL_TOKEN when set (a daemon on another
 * machine), else the token file, but only for a loopback URL, so it never leaves this machine
 * by accident. Read at each call: the daemon this client starts creates the file.
 */
export function localTokenFor(
  baseUrl: string,
  env: NodeJS.ProcessEnv = process.env,
  home = tribalHome(env),
): string | null {
  if (env.TRIBAL_MEMORY_LOCAL_TOKEN) return env.TRIBAL_MEMORY_LOCAL_TOKEN.trim();
  return isLoopbackUrl(baseUrl) ? readLocalToken(home) : null;
}

/** A small HTTP client of the /v1 API (daemon or relay). */
export class TribalClient {
  readonly baseUrl: string;
  private readonly apiKey: string | null;
  private readonly tokenSource: { env?: NodeJS.ProcessEnv; home?: string };
  /** `home`, `env`: where to find the local token (default: this process's environment and tribal home). */
  constructor(
    baseUrl: string,
    apiKey: string | null = null,
    tokenSource: { env?: NodeJS.ProcessEnv; home?: string } = {},
  ) {
    this.baseUrl = baseUrl;
    this.apiKey = apiKey;
    this.tokenSource = tokenSource;
  }

  /** An API key for the relay, or the daemon's local token (never both: a key means a relay). */
  authHeaders(): Record<string, string> {
    if (this.apiKey) return { authorization: `Bearer ${this.apiKey}` };
    const token = localTokenFor(this.baseUrl, this.tokenSource.env, this.tokenSource.home);
    return token ? { "x-tribal-token": token } : {};
  }

  /** One call; the JSON answer, or an ApiError with the server's (or the client's) code. */
  async call<T>(method: Method, path: string, body?: unknown, contentType = "application/json"): Promise<T> {
    const res = await this.send(method, path, body, contentType);
    return (await this.readJson(res)) as T;
  }

  /** A POST whose body is sent as it is read (an import from a file); the JSON answer. */
  async upload<T>(path: string, body: AsyncIterable<Uint8Array>, contentType: string): Promise<T> {
    const res = await this.send("POST", path, Readable.from(body), contentType);
    return (await this.readJson(res)) as T;
  }

  /** A call whose answer is streamed (export): the body, once the status says it succeeded. */
  async stream(method: Method, path: string): Promise<Dispatcher.ResponseData["body"]> {
    const res = await this.send(method, path, undefined, "application/json");
    if (res.statusCode >= 400) await this.readJson(res);
    return res.body;
  }

  private async send(
    method: Method,
    path: string,
    body: unknown,
    contentType: string,
  ): Promise<Dispatcher.ResponseData> {
    try {
      return await request(`${this.baseUrl}${path}`, {
        method,
        headers: {
          ...(body !== undefined ? { "content-type": contentType } : {}),
          ...this.authHeaders(),
        },
        body:
          body === undefined || typeof body === "string" || body instanceof Readable
            ? body
            : JSON.stringify(body),
      });
    } catch (err) {
      // A client with an API key talks to a relay: name it, not the local daemon.
      if (this.apiKey) throw relayUnreachable(this.baseUrl, err as Error);
      throw daemonRequestError(this.baseUrl, err as Error);
    }
  }

  private async readJson(res: Dispatcher.ResponseData): Promise<unknown> {
    const text = await res.body.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      throw new ApiError(
        res.statusCode,
        "BAD_RESPONSE",
        `${this.baseUrl} answered with something that is not JSON: is it a TribalMemory server?`,
      );
    }
    if (res.statusCode >= 400) {
      const e = (json as { error?: { code: string; message: string; details?: unknown } })?.error;
      throw new ApiError(res.statusCode, e?.code ?? `HTTP_${res.statusCode}`, e?.message ?? text, e?.details);
    }
    return json;
  }
}

/**
 * Why a daemon call failed before an answer. Refused or unresolvable: it never reached a daemon
 * (safe to start one and retry). Dropped mid-request: it may have been applied, so it is
 * DAEMON_CONNECTION_LOST, never retried.
 */
function daemonRequestError(url: string, err: Error): Error {
  const code = (err as NodeJS.ErrnoException).code ?? "";
  if (code === "ECONNREFUSED" || code === "UND_ERR_CONNECT_TIMEOUT") {
    return new ApiError(
      0,
      "DAEMON_UNREACHABLE",
      `No TribalMemory daemon at ${url}. Start it with \`tribalmemory daemon start\`.`,
    );
  }
  if (code === "ENOTFOUND" || code === "EAI_AGAIN" || code === "ETIMEDOUT" || code === "EADDRNOTAVAIL") {
    return new ApiError(0, "DAEMON_UNREACHABLE", `Cannot reach ${url}: ${err.message}`);
  }
  if (code === "ECONNRESET" || code === "UND_ERR_SOCKET" || code === "EPIPE") {
    return new ApiError(
      0,
      "DAEMON_CONNECTION_LOST",
      `The connection to ${url} dropped during the call; it may or may not have been applied.`,
    );
  }
  return err;
}

/** Why a relay did not answer, as one line that says what to check. */
export function relayUnreachable(url: string, err: Error): ApiError | Error {
  const code = (err as NodeJS.ErrnoException).code ?? (err.cause as NodeJS.ErrnoException)?.code ?? "";
  const reason =
    code === "ECONNREFUSED"
      ? "connection refused"
      : code === "ENOTFOUND" || code === "EAI_AGAIN"
        ? "unknown host"
        : /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(code)
          ? `its TLS certificate is not trusted (${code}; NODE_EXTRA_CA_CERTS names an extra CA)`
          : code
            ? `${code}: ${err.message}`
            : err.message;
  if (!code && !err.message) return err;
  return new ApiError(
    0,
    "RELAY_UNREACHABLE",
    `No TribalMemory relay answered at ${url} (${reason}). Check the URL (--relay, --url or TRIBAL_MEMORY_CLOUD_URL) and that \`tribalmemory relay start\` runs there.`,
  );
}
