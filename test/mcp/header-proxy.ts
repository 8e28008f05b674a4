import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A loopback HTTP proxy that adds headers (the daemon's local token, a relay key) to every
 * request and forwards it byte for byte, `Host` and `Origin` included, streaming both ways
 * (MCP answers as server-sent events). The MCP conformance CLI (0.1.x) connects by URL alone
 * and cannot send a credential; through this it tests the real, guarded `/mcp`. Headers that
 * name the proxy's own address are rewritten to the target's, as if the client had called it.
 */
export async function headerProxy(
  target: string,
  headers: Record<string, string>,
): Promise<{ url: string; close(): Promise<void> }> {
  const to = new URL(target);
  let self = "";
  const server: Server = createServer((req, res) => {
    // Headers naming the proxy itself name the target (what a direct call would send); forged ones pass as they are.
    const forwarded = { ...req.headers, ...headers };
    if (forwarded.host === self) forwarded.host = to.host;
    if (forwarded.origin === `http://${self}`) forwarded.origin = to.origin;
    const upstream = request(
      { host: to.hostname, port: to.port, method: req.method, path: req.url, headers: forwarded },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on("error", () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  self = `127.0.0.1:${port}`;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
