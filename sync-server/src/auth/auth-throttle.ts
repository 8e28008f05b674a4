import type { IncomingMessage } from "node:http";
import { isIPv6 } from "node:net";

export interface AuthThrottleOptions {
  /** Failed authentications allowed per address within `windowMs` (default 10). */
  limit?: number;
  /** Sliding window (default one minute). */
  windowMs?: number;
  /** Addresses remembered at most; the least recently failing are forgotten first (default 10 000). */
  maxAddresses?: number;
  now?: () => number;
}

/**
 * Failed-authentication throttle per client address, for HTTP requests and WebSocket upgrades
 * alike. A sliding window log: each address keeps the times of its last `limit` failures, so
 * memory is bounded by `maxAddresses × limit` numbers however many keys an attacker tries.
 * Keys carry 256 random bits, so this is not what keeps them secret; it keeps a key scanner
 * from costing the database one lookup per guess and makes stolen-key probing visible.
 */
export class AuthThrottle {
  private readonly limit: number;
  private readonly windowMs: number;
  private readonly maxAddresses: number;
  private readonly now: () => number;
  /** address → failure times, oldest first; Map order = least recently failing first. */
  private readonly failures = new Map<string, number[]>();

  constructor(options: AuthThrottleOptions = {}) {
    this.limit = options.limit ?? 10;
    this.windowMs = options.windowMs ?? 60_000;
    this.maxAddresses = options.maxAddresses ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  /** Seconds to wait when `address` is over its limit, else null. */
  retryAfter(address: string): number | null {
    const times = this.recent(address);
    if (times.length < this.limit) return null;
    // The window frees a slot when the oldest failure in it expires.
    return Math.max(1, Math.ceil((times[0] + this.windowMs - this.now()) / 1000));
  }

  /** Record a failed authentication from `address`. */
  fail(address: string): void {
    const times = this.recent(address);
    times.push(this.now());
    if (times.length > this.limit) times.splice(0, times.length - this.limit);
    this.failures.delete(address);
    this.failures.set(address, times);
    while (this.failures.size > this.maxAddresses) {
      const oldest = this.failures.keys().next().value as string;
      this.failures.delete(oldest);
    }
  }

  /** Addresses currently remembered (for tests and metrics). */
  get size(): number {
    return this.failures.size;
  }

  private recent(address: string): number[] {
    const times = this.failures.get(address);
    if (!times) return [];
    const cutoff = this.now() - this.windowMs;
    while (times.length && times[0] <= cutoff) times.shift();
    if (!times.length) this.failures.delete(address);
    return times;
  }
}

/**
 * The address a request counts against. Directly exposed: the socket's peer. Behind a proxy
 * (`--behind-proxy`): the last `X-Forwarded-For` entry, the one the proxy itself appended —
 * entries before it come from the client and could be forged to dodge the throttle.
 * IPv6 addresses count per /64, the block one subscriber usually gets.
 */
export function clientAddress(req: IncomingMessage, behindProxy: boolean): string {
  let address = req.socket.remoteAddress ?? "unknown";
  if (behindProxy) {
    const header = req.headers["x-forwarded-for"];
    const list = (Array.isArray(header) ? header.join(",") : (header ?? "")).split(",");
    const last = list[list.length - 1]?.trim();
    if (last) address = last;
  }
  if (address.startsWith("::ffff:") && address.includes(".")) address = address.slice(7);
  if (isIPv6(address)) address = `${ipv6Prefix64(address)}::/64`;
  return address;
}

function ipv6Prefix64(address: string): string {
  const [head, tail = ""] = address.split("::");
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const groups = address.includes("::")
    ? [...left, ...Array(8 - left.length - right.length).fill("0"), ...right]
    : left;
  return groups
    .slice(0, 4)
    .map((g) => g.toLowerCase().replace(/^0+(?=.)/, ""))
    .join(":");
}
