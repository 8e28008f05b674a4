import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type DaemonConfig, loadDaemonConfig, tribalHome } from "@tribalmemory/shared/config/config";
import { ApiError, daemonUrl, TribalClient } from "../client.ts";
import { daemonHealth, spawnDaemon } from "../service/daemon-process.ts";

/** Where the MCP server sends its calls. */
export interface McpTarget {
  kind: "daemon" | "cloud";
  url: string;
  apiKey: string | null;
  /** A local daemon we may start (and restart) ourselves. */
  canStart: boolean;
  /** Port to start it on when TRIBAL_MEMORY_URL names one. */
  port?: number;
}

/**
 * `~/.tribal-memory/.env` (written by `tribalmemory init --cloud`): KEY=VALUE lines. Values
 * already in the environment win, so a client config can still override them.
 */
export function loadDotEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const path = join(tribalHome(env), ".env");
  if (!existsSync(path)) return env;
  const merged = { ...env };
  for (const line of readFileSync(path, "utf8").split(/\r?\n/)) {
    const m = /^\s*(?:export\s+)?([A-Z0-9_]+)\s*=\s*(.*?)\s*$/.exec(line);
    if (!m || merged[m[1]] !== undefined) continue;
    merged[m[1]] = m[2].replace(/^(["'])(.*)\1$/, "$2");
  }
  return merged;
}

export function resolveTarget(env: NodeJS.ProcessEnv, config: DaemonConfig): McpTarget {
  if (env.TRIBAL_MEMORY_CLOUD_URL && env.TRIBAL_MEMORY_API_KEY) {
    return {
      kind: "cloud",
      url: env.TRIBAL_MEMORY_CLOUD_URL.replace(/\/$/, ""),
      apiKey: env.TRIBAL_MEMORY_API_KEY,
      canStart: false,
    };
  }
  if (env.TRIBAL_MEMORY_URL) {
    const url = env.TRIBAL_MEMORY_URL.replace(/\/$/, "");
    const u = new URL(url);
    const loopback = ["127.0.0.1", "localhost", "[::1]"].includes(u.hostname);
    return {
      kind: "daemon",
      url,
      apiKey: null,
      canStart: loopback,
      port: loopback && u.port ? Number(u.port) : undefined,
    };
  }
  return { kind: "daemon", url: daemonUrl(config), apiKey: null, canStart: true };
}

/**
 * The MCP server's link to the daemon (or relay). Starts the local daemon on first use when
 * none answers; if the daemon dies while attached, the next call starts it again. A call
 * refused at connect time never reached the daemon, so it is retried once after the restart;
 * a connection lost mid-request may have been applied, so it is reported, not repeated.
 */
export class DaemonConnection {
  readonly target: McpTarget;
  private readonly config: DaemonConfig;
  private client: TribalClient;
  private starting: Promise<void> | null = null;
  /** Where the client finds the daemon's local token. */
  private readonly tokenSource: { env: NodeJS.ProcessEnv; home: string };

  constructor(env: NodeJS.ProcessEnv = process.env) {
    const merged = loadDotEnv(env);
    this.config = loadDaemonConfig({}, merged);
    this.target = resolveTarget(merged, this.config);
    this.tokenSource = { env: merged, home: this.config.home };
    this.client = new TribalClient(this.target.url, this.target.apiKey, this.tokenSource);
  }

  async call<T>(
    method: "GET" | "POST" | "DELETE",
    path: string,
    body?: unknown,
    contentType = "application/json",
  ): Promise<T> {
    return this.startingIfNeeded(() => this.once<T>(method, path, body, contentType));
  }

  /** A GET whose answer is streamed (an export to a file), starting the daemon as `call` does. */
  async stream(path: string): Promise<AsyncIterable<Uint8Array>> {
    return this.startingIfNeeded(() => this.client.stream("GET", path));
  }

  /** `attempt`, and once more after starting the daemon when none answered it. */
  private async startingIfNeeded<T>(attempt: () => Promise<T>): Promise<T> {
    try {
      return await attempt();
    } catch (err) {
      if (!(err instanceof ApiError) || err.code !== "DAEMON_UNREACHABLE" || !this.target.canStart) throw err;
      await this.startDaemon();
      return attempt();
    }
  }

  /**
   * A POST whose body is sent as it is read. Such a body cannot be sent twice, so a daemon that
   * does not answer is started first (by a health call), not after a refused attempt.
   */
  async upload<T>(path: string, body: AsyncIterable<Uint8Array>, contentType: string): Promise<T> {
    await this.call("GET", "/v1/health");
    return this.client.upload<T>(path, body, contentType);
  }

  private async once<T>(
    method: "GET" | "POST" | "DELETE",
    path: string,
    body: unknown,
    contentType: string,
  ): Promise<T> {
    try {
      return await this.client.call<T>(method, path, body, contentType);
    } catch (err) {
      if (err instanceof ApiError && err.code === "DAEMON_CONNECTION_LOST") {
        const next = this.target.canStart
          ? "The next call restarts the daemon if it died."
          : "Check that the server is up.";
        throw new ApiError(err.status, err.code, `${err.message} ${next}`);
      }
      throw err;
    }
  }

  /** One start at a time, shared by concurrent calls. */
  private startDaemon(): Promise<void> {
    this.starting ??= (async () => {
      try {
        // Another client may have started it meanwhile (on another port): adopt that one.
        if (this.target.port === undefined && !process.env.TRIBAL_MEMORY_URL) {
          const current = daemonUrl(this.config);
          if (current !== this.client.baseUrl && (await daemonHealth(current, this.config.home))) {
            this.client = new TribalClient(current, this.target.apiKey, this.tokenSource);
            return;
          }
        }
        const started = await spawnDaemon(this.config, {
          port: this.target.port,
          configPath: this.config.configPath,
        });
        if (this.target.port === undefined && started.url !== this.client.baseUrl) {
          this.client = new TribalClient(started.url, this.target.apiKey, this.tokenSource);
        }
      } catch (err) {
        throw new ApiError(
          0,
          "DAEMON_UNREACHABLE",
          `No TribalMemory daemon answered and starting one failed: ${(err as Error).message}`,
        );
      } finally {
        this.starting = null;
      }
    })();
    return this.starting;
  }

  get url(): string {
    return this.client.baseUrl;
  }
}
