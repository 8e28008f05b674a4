import { isIPv4, isIPv6 } from "node:net";

/**
 * Loopback names and addresses: `localhost`, 127.0.0.0/8, `::1` (bracketed or not, and the
 * IPv4-mapped `::ffff:127.x.y.z`). The daemon's Host allow-list, its refusal to listen off
 * loopback without a token, and the clients' choice to send the local token all ask this.
 */
export function isLoopbackHostname(name: string): boolean {
  const n = name
    .toLowerCase()
    .replace(/^\[(.*)\]$/, "$1")
    .replace(/\.$/, "");
  if (n === "localhost") return true;
  if (isIPv4(n)) return n.startsWith("127.");
  if (isIPv6(n)) {
    // The URL parser writes IPv6 in its one canonical form: `0:0::1` becomes `::1`, and the
    // IPv4-mapped 127.x.y.z becomes `::ffff:7fxx:yyzz`.
    const canonical = new URL(`http://[${n}]/`).hostname;
    return canonical === "[::1]" || /^\[::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}\]$/.test(canonical);
  }
  return false;
}

/** A `Host` header split into its name (lower case, IPv6 without brackets) and port, or null if malformed. */
export function parseHostHeader(host: string): { name: string; port: number | null } | null {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(host.trim());
  if (!m) return null;
  const name = m[1].toLowerCase().replace(/^\[(.*)\]$/, "$1");
  if (m[1].startsWith("[") && !isIPv6(name)) return null;
  const port = m[2] === undefined ? null : Number(m[2]);
  if (port !== null && port > 65535) return null;
  return { name: name.replace(/\.$/, ""), port };
}

/** True when a URL (e.g. `http://127.0.0.1:18790`) points at this machine. */
export function isLoopbackUrl(url: string): boolean {
  try {
    return isLoopbackHostname(new URL(url).hostname);
  } catch {
    return false;
  }
}
