import { TribalError } from "../errors.ts";
import { isLoopbackHostname } from "../http/loopback.ts";

/**
 * Whether the daemon may send its API key to a relay URL. The key travels as a Bearer header
 * on every sync request and socket upgrade, so plaintext (`http://`, `ws://`) is allowed only
 * to a loopback relay, or when the user says the network is trusted (`sync.allow_insecure`).
 * Returns the refusal (SYNC_INSECURE_URL), or null when the URL may be used.
 */
export function checkRelayUrl(url: string, options: { allowInsecure?: boolean } = {}): TribalError | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return new TribalError("VALIDATION_FAILED", `sync.cloud_url ${JSON.stringify(url)} is not a URL.`);
  }
  const scheme = parsed.protocol.replace(/:$/, "");
  if (scheme === "https" || scheme === "wss") return null;
  if (scheme !== "http" && scheme !== "ws") {
    return new TribalError(
      "VALIDATION_FAILED",
      `sync.cloud_url must be https:// (or http:// on loopback), not ${scheme}://.`,
    );
  }
  if (options.allowInsecure || isLoopbackHostname(parsed.hostname)) return null;
  return new TribalError(
    "SYNC_INSECURE_URL",
    `Refusing to send the API key in plaintext to ${parsed.host} (${scheme}://). Use https:// for the relay, or set sync.allow_insecure: true in config if this network is trusted. Sync is off; the daemon works locally.`,
    { host: parsed.host },
  );
}
