import pg from "pg";

/**
 * Payload delivered to every subscriber after the LISTEN connection was lost and re-opened:
 * NOTIFYs sent meanwhile are gone for good, so subscribers must re-read what they follow.
 */
export const RESYNC_PAYLOAD = "*";

const RETRY_MIN_MS = 200;
const RETRY_MAX_MS = 5_000;

/**
 * The relay's one LISTEN connection, kept open across Postgres restarts and network drops.
 * Found by the chaos run: the connection used to swallow its error and never come back, so a
 * relay process stopped hearing the others' commits and revocations until its sockets
 * happened to reconnect. Now it reconnects with backoff, re-issues every LISTEN, and tells
 * each subscriber to resynchronise (RESYNC_PAYLOAD).
 */
export class NotifyListener {
  private readonly subscribers = new Map<string, Set<(payload: string) => void>>();
  private client: pg.Client | null = null;
  private connecting: Promise<pg.Client> | null = null;
  private retryMs = RETRY_MIN_MS;
  private retryTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly options: {
    url: string;
    connectTimeoutMs: number;
    onReconnectError?: (err: Error) => void;
  };

  constructor(options: { url: string; connectTimeoutMs: number; onReconnectError?: (err: Error) => void }) {
    this.options = options;
  }

  async subscribe(channel: string, onPayload: (payload: string) => void): Promise<() => void> {
    let set = this.subscribers.get(channel);
    const isNew = !set;
    if (!set) {
      set = new Set();
      this.subscribers.set(channel, set);
    }
    set.add(onPayload);
    const client = await this.connected();
    if (isNew) await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
    return () => set.delete(onPayload);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    await this.client?.end().catch(() => undefined);
    this.client = null;
  }

  private connected(): Promise<pg.Client> {
    if (this.client) return Promise.resolve(this.client);
    this.connecting ??= this.open().finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }

  private async open(): Promise<pg.Client> {
    const c = new pg.Client({
      connectionString: this.options.url,
      connectionTimeoutMillis: this.options.connectTimeoutMs,
    });
    c.on("notification", (n) => {
      for (const cb of this.subscribers.get(n.channel) ?? []) cb(n.payload ?? "");
    });
    let lost = false;
    const onLost = () => {
      if (lost) return;
      lost = true;
      if (this.client === c) this.client = null;
      c.end().catch(() => undefined);
      this.scheduleReconnect();
    };
    c.on("error", onLost);
    c.on("end", onLost);
    await c.connect();
    for (const channel of this.subscribers.keys()) await c.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
    this.client = c;
    return c;
  }

  private scheduleReconnect(): void {
    if (this.closed || this.retryTimer) return;
    const delay = this.retryMs * (0.5 + Math.random() / 2);
    this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
    this.retryTimer = setTimeout(async () => {
      this.retryTimer = null;
      if (this.closed) return;
      try {
        await this.connected();
        this.retryMs = RETRY_MIN_MS;
        for (const set of this.subscribers.values()) for (const cb of set) cb(RESYNC_PAYLOAD);
      } catch (err) {
        this.options.onReconnectError?.(err as Error);
        this.scheduleReconnect();
      }
    }, delay);
    this.retryTimer.unref();
  }
}
