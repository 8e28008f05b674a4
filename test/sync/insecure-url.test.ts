import { mkdirSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { networkInterfaces } from "node:os";
import { join } from "node:path";
import { checkRelayUrl } from "@tribalmemory/shared/sync/relay-url";
import { afterAll, describe, expect, it } from "vitest";
import { type DaemonProcess, sleep, startDaemonProcess, tempDir, waitFor } from "./harness.ts";

/**
 * The daemon never sends its API key in plaintext (http:// or ws://) to a relay off loopback
 * unless `sync.allow_insecure: true`: a coded error in sync status and health, one log line,
 * no connection attempted, and the daemon itself still starts and works locally.
 */
type Status = { state: string; last_error: { code: string; message: string } | null };

/** An address of this machine that is not loopback, so a listener here sees any attempt. */
function nonLoopbackAddress(): string | null {
  for (const list of Object.values(networkInterfaces())) {
    for (const i of list ?? []) if (i.family === "IPv4" && !i.internal) return i.address;
  }
  return null;
}

/** A TCP listener that only counts who connects (the daemon must never reach it). */
async function countingListener(
  host: string,
): Promise<{ server: Server; port: number; connections: () => number }> {
  let n = 0;
  const server = createServer((socket) => {
    n++;
    socket.destroy();
  });
  await new Promise<void>((r) => server.listen(0, host, () => r()));
  return { server, port: (server.address() as { port: number }).port, connections: () => n };
}

function withConfig(home: string, yaml: string): void {
  mkdirSync(home, { recursive: true });
  writeFileSync(join(home, "config.yaml"), yaml);
}

describe("the daemon refuses to send its API key in plaintext off loopback", () => {
  const dir = tempDir("tm-insecure-");
  const daemons: DaemonProcess[] = [];
  const servers: Server[] = [];
  const host = nonLoopbackAddress();

  afterAll(async () => {
    await Promise.all(daemons.map((d) => d.kill()));
    for (const s of servers) s.close();
    dir.remove();
  });

  it("loopback and TLS URLs are allowed; plaintext elsewhere needs allow_insecure", () => {
    for (const ok of [
      "http://127.0.0.1:18800",
      "ws://127.9.9.9",
      "http://localhost:18800",
      "http://[::1]:18800",
      "https://relay.example.com",
      "wss://relay.example.com",
    ])
      expect([ok, checkRelayUrl(ok)]).toEqual([ok, null]);
    for (const bad of ["http://relay.example.com", "ws://10.0.0.5:18800", "http://127.0.0.1.nip.io"])
      expect([bad, checkRelayUrl(bad)?.code]).toEqual([bad, "SYNC_INSECURE_URL"]);
    expect(checkRelayUrl("http://relay.example.com", { allowInsecure: true })).toBeNull();
  });

  it("ws://example.invalid: sync refused with SYNC_INSECURE_URL and a log line; the daemon remembers and recalls locally", async () => {
    const d = await startDaemonProcess({
      home: `${dir.path}/invalid`,
      relayUrl: "ws://example.invalid",
      apiKey: "tm_live_never_sent",
      instance: "agent@insecure",
    });
    daemons.push(d);
    const s = (await d.call<Status>("GET", "/v1/sync/status")).body;
    expect(s.state).toBe("refused");
    expect(s.last_error?.code).toBe("SYNC_INSECURE_URL");
    expect(s.last_error?.message).toMatch(/allow_insecure/);
    const health = (await d.call<{ sync: Status }>("GET", "/v1/health")).body;
    expect(health.sync.last_error?.code).toBe("SYNC_INSECURE_URL");
    expect(d.log()).toMatch(/SYNC_INSECURE_URL/);
    expect(d.log()).not.toMatch(/tm_live_never_sent/);
    // No attempt, so no DNS failure either: the error stays the refusal.
    await sleep(1500);
    expect((await d.call<Status>("GET", "/v1/sync/status")).body.last_error?.code).toBe("SYNC_INSECURE_URL");
    const r = await d.call<{ memory_id: string }>("POST", "/v1/remember", { content: "Local work goes on" });
    expect(r.status).toBe(201);
    const hits = await d.call<{ results: { memory: { id: string } }[] }>("POST", "/v1/recall", {
      query: "local work",
    });
    expect(hits.body.results.map((x) => x.memory.id)).toContain(r.body.memory_id);
  });

  it.skipIf(!host)(
    "http://<this machine's LAN address>: not one connection is attempted; with sync.allow_insecure: true it connects",
    async () => {
      const listener = await countingListener(host as string);
      servers.push(listener.server);
      const url = `http://${host}:${listener.port}`;
      // Session sharing sends the same key from its own pusher: it must be refused too.
      withConfig(`${dir.path}/lan`, "sync:\n  sessions: true\n");
      const refused = await startDaemonProcess({
        home: `${dir.path}/lan`,
        relayUrl: url,
        apiKey: "tm_live_never_sent",
        instance: "agent@lan",
      });
      daemons.push(refused);
      const ingest = await refused.call("POST", "/v1/sessions/ingest", {
        session_id: "lan-session",
        messages: [{ role: "user", content: "The session pusher must not reach the LAN relay" }],
      });
      expect(ingest.status).toBeLessThan(300);
      await sleep(2000);
      expect((await refused.call<Status>("GET", "/v1/sync/status")).body.state).toBe("refused");
      expect(listener.connections()).toBe(0);
      expect(refused.log()).toMatch(/session sync off/);

      withConfig(`${dir.path}/trusted`, "sync:\n  allow_insecure: true\n");
      const trusted = await startDaemonProcess({
        home: `${dir.path}/trusted`,
        relayUrl: url,
        apiKey: "tm_live_trusted_network",
        instance: "agent@trusted",
      });
      daemons.push(trusted);
      await waitFor("the trusted daemon to connect", async () => listener.connections() > 0, 15_000);
      expect((await trusted.call<Status>("GET", "/v1/sync/status")).body.state).not.toBe("refused");
    },
  );
});
