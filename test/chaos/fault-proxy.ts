/**
 * A WebSocket-aware fault proxy between one daemon and the relays. The kernel here has no
 * netem, so delay, loss, duplication and reordering are made here, per sync message:
 *
 *   delay      every message waits a random time; order kept (a slow link)
 *   reorder    a message is held back and sent after the next one (same direction)
 *   duplicate  a message is sent twice (the protocol says duplicates are no-ops)
 *   loss       a message is dropped *and the connection reset* shortly after — the only way
 *              TCP loses data; dropping frames on a live socket would test a network that
 *              cannot exist (the protocol rightly relies on TCP's in-order delivery)
 *   stall      nothing is forwarded either way (a black hole: the socket stays open)
 *   reset      every connection through the proxy is destroyed at once
 *
 * Each new connection goes to a relay chosen by `pickRelay` (the chaos run picks a live one at
 * random, so a daemon's cursor moves between relay processes). Plain HTTP is piped as is.
 */
import { createServer, request, type Server } from "node:http";
import type { Socket } from "node:net";
import WebSocket, { WebSocketServer } from "ws";

export interface LinkFaults {
  delayMs: [number, number] | null;
  reorder: number;
  duplicate: number;
  loss: number;
  stall: boolean;
}

export const NO_FAULTS: LinkFaults = { delayMs: null, reorder: 0, duplicate: 0, loss: 0, stall: false };

export interface ProxyCounters {
  connections: number;
  messages: number;
  delayed: number;
  reordered: number;
  duplicated: number;
  lost: number;
  resets: number;
}

export interface FaultProxy {
  port: number;
  faults: LinkFaults;
  counters: ProxyCounters;
  set(faults: Partial<LinkFaults>): void;
  heal(): void;
  resetAll(): number;
  close(): Promise<void>;
}

interface Pair {
  client: WebSocket;
  upstream: WebSocket;
  sockets: Socket[];
  dead: boolean;
}

export async function startFaultProxy(options: {
  host: string;
  pickRelay: () => number | null;
  random: () => number;
  maxPayload: number;
}): Promise<FaultProxy> {
  const rnd = options.random;
  const pairs = new Set<Pair>();
  const counters: ProxyCounters = {
    connections: 0,
    messages: 0,
    delayed: 0,
    reordered: 0,
    duplicated: 0,
    lost: 0,
    resets: 0,
  };
  let faults: LinkFaults = { ...NO_FAULTS };
  const stalled: (() => void)[] = [];

  const kill = (pair: Pair) => {
    if (pair.dead) return;
    pair.dead = true;
    pairs.delete(pair);
    pair.client.terminate();
    pair.upstream.terminate();
  };

  /** One direction of a pair: per-message faults, order kept unless reordering. */
  const lane = (pair: Pair, to: () => WebSocket) => {
    let lastAt = 0;
    let held: { data: WebSocket.RawData; binary: boolean } | null = null;
    const send = (data: WebSocket.RawData, binary: boolean) => {
      const ws = to();
      if (!pair.dead && ws.readyState === WebSocket.OPEN) ws.send(data, { binary });
    };
    const deliver = (data: WebSocket.RawData, binary: boolean) => {
      const f = faults;
      const copies = rnd() < f.duplicate ? 2 : 1;
      if (copies === 2) counters.duplicated++;
      let delay = 0;
      if (f.delayMs) {
        delay = f.delayMs[0] + rnd() * (f.delayMs[1] - f.delayMs[0]);
        counters.delayed++;
      }
      const at = Math.max(lastAt, Date.now() + delay);
      lastAt = at;
      setTimeout(
        () => {
          for (let c = 0; c < copies; c++) send(data, binary);
        },
        Math.max(0, at - Date.now()),
      );
    };
    return (data: WebSocket.RawData, binary: boolean) => {
      counters.messages++;
      const forward = () => {
        if (pair.dead) return;
        const f = faults;
        if (rnd() < f.loss) {
          counters.lost++;
          setTimeout(() => kill(pair), rnd() * 200);
          return;
        }
        if (held) {
          const h = held;
          held = null;
          deliver(data, binary);
          deliver(h.data, h.binary);
          return;
        }
        if (rnd() < f.reorder) {
          counters.reordered++;
          held = { data, binary };
          // No next message soon: let it go alone.
          setTimeout(() => {
            if (held?.data === data) {
              held = null;
              deliver(data, binary);
            }
          }, 100);
          return;
        }
        deliver(data, binary);
      };
      if (faults.stall) stalled.push(forward);
      else forward();
    };
  };

  const wss = new WebSocketServer({ noServer: true, maxPayload: options.maxPayload });
  const server: Server = createServer((req, res) => {
    const relay = options.pickRelay();
    if (relay === null || faults.stall) {
      req.socket.destroy();
      return;
    }
    const up = request(
      { host: "127.0.0.1", port: relay, method: req.method, path: req.url, headers: req.headers },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    up.on("error", () => req.socket.destroy());
    req.pipe(up);
  });
  server.on("upgrade", (req, socket: Socket, head) => {
    const relay = options.pickRelay();
    if (relay === null || faults.stall) {
      socket.destroy();
      return;
    }
    wss.handleUpgrade(req, socket, head, (client) => {
      counters.connections++;
      const upstream = new WebSocket(`ws://127.0.0.1:${relay}${req.url}`, {
        headers: req.headers.authorization ? { authorization: req.headers.authorization } : {},
        maxPayload: options.maxPayload,
        handshakeTimeout: 10_000,
      });
      const pair: Pair = { client, upstream, sockets: [socket], dead: false };
      pairs.add(pair);
      const early: (() => void)[] = [];
      const toUpstream = lane(pair, () => upstream);
      const toClient = lane(pair, () => client);
      client.on("message", (data, binary) => {
        if (upstream.readyState === WebSocket.OPEN) toUpstream(data, binary);
        else early.push(() => toUpstream(data, binary));
      });
      upstream.on("open", () => {
        for (const f of early.splice(0)) f();
      });
      upstream.on("message", (data, binary) => toClient(data, binary));
      upstream.on("unexpected-response", () => kill(pair));
      for (const ws of [client, upstream]) {
        ws.on("error", () => kill(pair));
        ws.on("close", () => kill(pair));
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, options.host, () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  return {
    port,
    get faults() {
      return faults;
    },
    counters,
    set(f) {
      faults = { ...faults, ...f };
      if (!faults.stall) for (const run of stalled.splice(0)) run();
    },
    heal() {
      faults = { ...NO_FAULTS };
      for (const run of stalled.splice(0)) run();
    },
    resetAll() {
      const n = pairs.size;
      for (const p of [...pairs]) {
        for (const s of p.sockets) s.destroy();
        kill(p);
      }
      counters.resets += n;
      return n;
    },
    async close() {
      for (const p of [...pairs]) kill(p);
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
