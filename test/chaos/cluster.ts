/**
 * The system under test as real processes: one Postgres the run owns, relay processes on
 * loopback sharing it, and daemons each in a network namespace behind a fault proxy.
 * Everything can be SIGKILLed and restarted with its data kept.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { MAX_SYNC_MESSAGE_BYTES } from "@tribalmemory/shared/sync/protocol";
import { Agent, request } from "undici";
import {
  api,
  freePort,
  type RelayDb,
  type RelayProcess,
  relayInit,
  relayPlan,
  sleep,
  startRelayProcess,
  tempDir,
  waitFor,
} from "../sync/harness.ts";
import { type FaultProxy, startFaultProxy } from "./fault-proxy.ts";
import { type ChaosNetwork, createChaosNetwork, DAEMON_PORT, FORWARD_PORT } from "./netns.ts";
import { type ChaosPostgres, startChaosPostgres } from "./postgres.ts";

const DAEMON = fileURLToPath(new URL("../../cli/src/tribalmemoryd.ts", import.meta.url));
const FORWARD = fileURLToPath(new URL("./ns-forward.ts", import.meta.url));

export interface Reply<T = any> {
  status: number;
  body: T;
}

/** Thrown when a request got no answer: its effect is unknown (ambiguous), not refused. */
export class NoAnswer extends Error {}

export interface ChaosDaemon {
  index: number;
  home: string;
  proxy: FaultProxy;
  proc: ChildProcess | null;
  forwarder: ChildProcess | null;
  log: string;
}

export interface ChaosRelay {
  index: number;
  port: number;
  proc: RelayProcess | null;
}

export interface ChaosCluster {
  pg: ChaosPostgres;
  net: ChaosNetwork;
  relays: ChaosRelay[];
  daemons: ChaosDaemon[];
  apiKey: string;
  daemonCall<T = any>(
    i: number,
    method: string,
    path: string,
    body?: unknown,
    contentType?: string,
  ): Promise<Reply<T>>;
  relayCall<T = any>(r: number, method: string, path: string, body?: unknown): Promise<Reply<T>>;
  killDaemon(i: number): Promise<void>;
  startDaemon(i: number): Promise<void>;
  killRelay(r: number): Promise<void>;
  startRelay(r: number): Promise<void>;
  liveRelays(): number[];
  destroy(): Promise<void>;
}

export async function startChaosCluster(options: {
  daemons: number;
  relays: number;
  random: () => number;
  log: (s: string) => void;
}): Promise<ChaosCluster> {
  const dir = tempDir("tm-chaos-");
  const pg = await startChaosPostgres();
  let net: ChaosNetwork | null = null;
  const relays: ChaosRelay[] = [];
  const daemons: ChaosDaemon[] = [];
  const agent = new Agent({ connect: { timeout: 3_000 }, headersTimeout: 15_000, bodyTimeout: 15_000 });
  const db: RelayDb = { args: ["--database-url", pg.appUrl, "--admin-database-url", pg.adminUrl] };
  const cluster = {} as ChaosCluster;
  try {
    const { apiKey, workspaceId } = await relayInit(db);
    // Faults, not the Free plan's 1,000 memories: a long schedule writes thousands.
    await relayPlan(db, workspaceId, "enterprise");
    for (let r = 0; r < options.relays; r++) relays.push({ index: r, port: await freePort(), proc: null });
    net = createChaosNetwork(options.daemons);
    const liveRelays = () =>
      relays.filter((r) => r.proc && r.proc.proc.exitCode === null).map((r) => r.index);
    for (let i = 0; i < options.daemons; i++) {
      const proxy = await startFaultProxy({
        host: net.daemons[i].hostIp,
        random: options.random,
        maxPayload: MAX_SYNC_MESSAGE_BYTES + 1024,
        pickRelay: () => {
          const live = liveRelays();
          return live.length ? relays[live[Math.floor(options.random() * live.length)]].port : null;
        },
      });
      daemons.push({ index: i, home: join(dir.path, `d${i}`), proxy, proc: null, forwarder: null, log: "" });
    }
    const n = net;

    const localToken = (home: string): string | null => {
      for (const p of [join(home, "local-token"), join(home, "data", "local-token")]) {
        if (existsSync(p)) return readFileSync(p, "utf8").trim();
      }
      return null;
    };

    Object.assign(cluster, {
      pg,
      net: n,
      relays,
      daemons,
      apiKey,
      liveRelays,
      async daemonCall(
        i: number,
        method: string,
        path: string,
        body?: unknown,
        contentType = "application/json",
      ) {
        const d = daemons[i];
        const token = localToken(d.home);
        const headers: Record<string, string> = { host: `127.0.0.1:${DAEMON_PORT}` };
        if (token) headers.authorization = `Bearer ${token}`;
        if (body !== undefined) headers["content-type"] = contentType;
        let res: Awaited<ReturnType<typeof request>>;
        let text: string;
        try {
          res = await request(`http://${n.daemons[i].nsIp}:${FORWARD_PORT}${path}`, {
            method: method as "GET",
            headers,
            body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
            dispatcher: agent,
          });
          text = await res.body.text();
        } catch (err) {
          throw new NoAnswer(`daemon ${i} ${method} ${path}: ${(err as Error).message}`);
        }
        let parsed: unknown = text;
        try {
          parsed = text ? JSON.parse(text) : null;
        } catch {
          // JSONL
        }
        return { status: res.statusCode, body: parsed };
      },
      async relayCall(r: number, method: string, path: string, body?: unknown) {
        try {
          return await api(`http://127.0.0.1:${relays[r].port}`, method, path, body, apiKey);
        } catch (err) {
          throw new NoAnswer(`relay ${r} ${method} ${path}: ${(err as Error).message}`);
        }
      },
      async killDaemon(i: number) {
        const p = daemons[i].proc;
        daemons[i].proc = null;
        if (!p || p.exitCode !== null) return;
        const exited = new Promise((r) => p.once("exit", r));
        p.kill("SIGKILL");
        await exited;
      },
      async startDaemon(i: number) {
        const d = daemons[i];
        const nd = n.daemons[i];
        if (!d.forwarder || d.forwarder.exitCode !== null) {
          d.forwarder = spawn(
            nd.exec[0],
            [
              ...nd.exec.slice(1),
              process.execPath,
              FORWARD,
              nd.nsIp,
              String(FORWARD_PORT),
              String(DAEMON_PORT),
            ],
            { stdio: ["ignore", "pipe", "inherit"] },
          );
          await new Promise<void>((resolve, reject) => {
            d.forwarder?.stdout?.once("data", () => resolve());
            d.forwarder?.once("exit", (c) => reject(new Error(`forwarder exited ${c}`)));
          });
        }
        // The relay is reached over the veth link in plaintext: a trusted test network.
        mkdirSync(d.home, { recursive: true });
        writeFileSync(join(d.home, "config.yaml"), "sync:\n  allow_insecure: true\n");
        const proc = spawn(
          nd.exec[0],
          [
            ...nd.exec.slice(1),
            process.execPath,
            DAEMON,
            "--port",
            String(DAEMON_PORT),
            "--data-dir",
            join(d.home, "data"),
            "--embedding",
            "hashing",
          ],
          {
            stdio: ["ignore", "pipe", "pipe"],
            env: {
              ...process.env,
              TRIBAL_MEMORY_HOME: d.home,
              TRIBAL_MEMORY_CONFIG: join(d.home, "config.yaml"),
              TRIBAL_MEMORY_CLOUD_URL: `http://${nd.hostIp}:${d.proxy.port}`,
              TRIBAL_MEMORY_API_KEY: apiKey,
              TRIBAL_MEMORY_INSTANCE_ID: `chaos-d${i}`,
              TRIBAL_MEMORY_LOG_LEVEL: "warn",
              TRIBAL_MEMORY_SYNC_BACKOFF_MAX_MS: "800",
            },
          },
        );
        d.proc = proc;
        const append = (b: Buffer) => {
          d.log += b.toString();
          if (d.log.length > 200_000) d.log = d.log.slice(-100_000);
        };
        proc.stdout?.on("data", append);
        proc.stderr?.on("data", append);
        await waitFor(
          `daemon ${i} health`,
          async () => {
            if (proc.exitCode !== null || proc.signalCode !== null)
              throw new Error(`daemon ${i} exited: ${d.log.slice(-2000)}`);
            return (await cluster.daemonCall(i, "GET", "/v1/health")).status === 200;
          },
          60_000,
          100,
        );
      },
      async killRelay(r: number) {
        const p = relays[r].proc;
        relays[r].proc = null;
        await p?.kill("SIGKILL");
      },
      async startRelay(r: number) {
        // Postgres may be restarting: a relay that cannot reach it exits; try again.
        for (let attempt = 0; ; attempt++) {
          try {
            relays[r].proc = await startRelayProcess(db, relays[r].port);
            return;
          } catch (err) {
            if (attempt >= 10) throw err;
            await sleep(1000);
          }
        }
      },
      async destroy() {
        await Promise.all(relays.map((r) => r.proc?.kill("SIGKILL")));
        for (const d of daemons) {
          d.proc?.kill("SIGKILL");
          d.forwarder?.kill("SIGKILL");
          await d.proxy.close().catch(() => undefined);
        }
        await agent.close().catch(() => undefined);
        n.destroy();
        pg.stop();
        dir.remove();
      },
    });
    await Promise.all(relays.map((r) => cluster.startRelay(r.index)));
    await Promise.all(daemons.map((d) => cluster.startDaemon(d.index)));
    options.log(
      `cluster: postgres :${pg.port}, relays ${relays.map((r) => `:${r.port}`).join(" ")}, daemons in ${n.daemons.map((d) => `${d.ns}(${d.nsIp})`).join(" ")} on ${n.subnet}`,
    );
    return cluster;
  } catch (err) {
    for (const r of relays) await r.proc?.kill("SIGKILL");
    for (const d of daemons) {
      d.proc?.kill("SIGKILL");
      d.forwarder?.kill("SIGKILL");
      await d.proxy.close().catch(() => undefined);
    }
    net?.destroy();
    pg.stop();
    dir.remove();
    throw err;
  }
}
