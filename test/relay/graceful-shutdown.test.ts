import { type ChildProcess, spawn } from "node:child_process";
import { connect, createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, expect, it } from "vitest";
import {
  allSynced,
  api,
  type DaemonProcess,
  freePort,
  relayDb,
  relayInit,
  sleep,
  startDaemonProcess,
  tempDir,
  waitFor,
} from "../sync/harness.ts";

/**
 * SIGTERM to a relay process in the middle of a daemon's stream of writes: the relay drains
 * (in-flight pushes acked, the socket closed with 1001), exits 0 and logs it; the daemon
 * reconnects through the balancer to a second relay on the same database, and every memory
 * arrives exactly once.
 */

const CLI = fileURLToPath(new URL("../../cli/src/tribalmemory.ts", import.meta.url));
// Two relay processes need a shared server database: PGlite is one process by design.
const hasPostgres = Boolean(process.env.TEST_APP_DATABASE_URL);
const dir = tempDir("tm-graceful-");
const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  dir.remove();
});

interface Relay {
  port: number;
  proc: ChildProcess;
  log: () => string;
  exited: Promise<number | null>;
}

/** `relay start` at info level (the drain is logged there), on its own port. */
async function startRelay(args: string[]): Promise<Relay> {
  const port = await freePort();
  const proc = spawn(
    process.execPath,
    [CLI, "relay", "start", ...args, "--port", String(port), "--host", "127.0.0.1", "--embedding", "hashing"],
    { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, TRIBAL_MEMORY_LOG_LEVEL: "info" } },
  );
  let out = "";
  proc.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  proc.stderr?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => proc.once("exit", (code) => resolve(code)));
  cleanups.push(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
  });
  await waitFor("relay to listen", async () => {
    if (proc.exitCode !== null) throw new Error(`relay exited: ${out}`);
    return out.includes(`"port":${port}`);
  });
  return { port, proc, log: () => out, exited };
}

/** A server's close frame (unmasked): FIN + close opcode, length, code 1001, the relay's reason. */
const GOING_AWAY_FRAME = Buffer.concat([
  Buffer.from([0x88, 21, 0x03, 0xe9]),
  Buffer.from("relay shutting down"),
]);

/**
 * A TCP load balancer: each new connection goes to the first backend that accepts it. A
 * draining relay has closed its listener, so new connections reach the next one.
 */
async function startBalancer(
  backends: number[],
): Promise<{ port: number; server: Server; goingAway: Map<number, number> }> {
  const sockets = new Set<Socket>();
  /** How many "going away" close frames each backend sent. */
  const goingAway = new Map<number, number>();
  const server = createServer((client) => {
    sockets.add(client);
    client.pause();
    const tryBackend = (i: number) => {
      if (i >= backends.length) return client.destroy();
      const upstream = connect(backends[i], "127.0.0.1");
      upstream.once("error", () => tryBackend(i + 1));
      upstream.once("connect", () => {
        sockets.add(upstream);
        upstream.removeAllListeners("error");
        upstream.on("error", () => client.destroy());
        client.on("error", () => upstream.destroy());
        upstream.on("close", () => client.destroy());
        client.on("close", () => upstream.destroy());
        upstream.on("data", (chunk: Buffer) => {
          if (chunk.includes(GOING_AWAY_FRAME))
            goingAway.set(backends[i], (goingAway.get(backends[i]) ?? 0) + 1);
        });
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      });
    };
    tryBackend(0);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return { port: (server.address() as { port: number }).port, server, goingAway };
}

it.skipIf(!hasPostgres)(
  "SIGTERM mid-stream: the relay drains and exits 0, the daemon moves to the second relay, every memory arrives exactly once",
  async () => {
    const db = relayDb(join(dir.path, "unused"));
    const { apiKey } = await relayInit(db);
    const first = await startRelay(db.args);
    const second = await startRelay(db.args);
    const balancer = await startBalancer([first.port, second.port]);
    const daemon: DaemonProcess = await startDaemonProcess({
      home: join(dir.path, "daemon"),
      relayUrl: `http://127.0.0.1:${balancer.port}`,
      apiKey,
      instance: "writer",
    });
    cleanups.push(() => daemon.kill());
    await waitFor("daemon live on the first relay", async () => {
      const s = (await daemon.call<{ state: string }>("GET", "/v1/sync/status")).body;
      return s.state === "live";
    });

    const total = 60;
    const contents = Array.from({ length: total }, (_, i) => `stream memory ${i} of the shutdown test`);
    for (const [i, content] of contents.entries()) {
      const res = await daemon.call("POST", "/v1/remember", { content });
      expect(res.status).toBe(201);
      if (i === 20) first.proc.kill("SIGTERM");
      await sleep(15);
    }

    expect(await first.exited).toBe(0);
    const log = first
      .log()
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(log.find((l) => l.msg === "relay stopping")).toMatchObject({ signal: "SIGTERM" });
    expect(log.find((l) => String(l.msg).startsWith("relay draining"))).toMatchObject({ sockets: 1 });
    // The daemon's socket was closed with 1001 after its acks, not cut at the deadline.
    expect(log.find((l) => l.msg === "relay drained")).toMatchObject({
      sockets_closed: 1,
      sockets_terminated: 0,
    });
    expect(log.some((l) => l.msg === "relay stopped")).toBe(true);
    expect(balancer.goingAway.get(first.port)).toBe(1);

    await waitFor(
      "the daemon's outbox to drain through the second relay",
      () => allSynced([daemon]),
      30_000,
      100,
    );
    // Every memory exactly once on the relay that took over (same database).
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { status: number; body: { memories: { content: string }[]; next_cursor: string | null } } =
        await api(
          `http://127.0.0.1:${second.port}`,
          "GET",
          `/v1/memories?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
          undefined,
          apiKey,
        );
      expect(page.status).toBe(200);
      seen.push(...page.body.memories.map((m) => m.content));
      cursor = page.body.next_cursor;
    } while (cursor);
    expect(seen.length).toBe(total);
    expect([...seen].sort()).toEqual([...contents].sort());
  },
  180_000,
);
