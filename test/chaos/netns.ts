/**
 * Network namespaces for the chaos run: each daemon lives in its own namespace joined to the
 * host by a veth pair (a /30 inside one private /24), so a partition is real — an nftables
 * drop rule inside the namespace, or the host end of the link taken down — not a mock.
 *
 *   host ns: Postgres, relays (127.0.0.1), one fault proxy per daemon on 10.X.Y.(4i+1)
 *   ns i   : tribalmemoryd on 127.0.0.1:DAEMON_PORT, a TCP forwarder on 10.X.Y.(4i+2) so the
 *            test (in the host ns) can reach the daemon's loopback-only HTTP API
 */
import { execFileSync, spawnSync } from "node:child_process";

export const DAEMON_PORT = 18791;
export const FORWARD_PORT = 18790;

export function netnsUnavailable(): string | null {
  if (process.platform !== "linux") return "not Linux";
  if (process.getuid?.() !== 0) return "not root (network namespaces need CAP_NET_ADMIN)";
  if (spawnSync("ip", ["-V"]).status !== 0) return "no `ip` (iproute2)";
  if (spawnSync("nft", ["--version"]).status !== 0) return "no `nft` (apt-get install -y nftables)";
  if (spawnSync("nsenter", ["--version"]).status !== 0) return "no `nsenter` (util-linux)";
  const probe = `tmc-probe-${process.pid}`;
  const r = spawnSync("ip", ["netns", "add", probe]);
  if (r.status !== 0) return `cannot create a network namespace: ${r.stderr}`;
  spawnSync("ip", ["netns", "del", probe]);
  return null;
}

const run = (cmd: string, args: string[]) => {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr.trim()}`);
  return r.stdout;
};

export interface DaemonNet {
  index: number;
  ns: string;
  /** Host end of the link (where this daemon's fault proxy listens). */
  hostIp: string;
  nsIp: string;
  hostIf: string;
  /** `nsenter` prefix that runs a program inside the namespace (it execs: the pid is the program's). */
  exec: string[];
}

export interface ChaosNetwork {
  subnet: string;
  daemons: DaemonNet[];
  /** Drop all traffic between a daemon and its proxy (both ways) inside the namespace. */
  partition(i: number, proxyPort: number): void;
  /** Take the host end of a daemon's link down: the daemon is cut off from everything. */
  linkDown(i: number): void;
  heal(i: number): void;
  destroy(): void;
}

export function createChaosNetwork(count: number): ChaosNetwork {
  // A /24 of our own: 10.231.<pid-derived>.0/24, one /30 per daemon.
  const third = 16 + (process.pid % 200);
  const subnet = `10.231.${third}.0/24`;
  const tag = (process.pid % 100000).toString(36);
  const daemons: DaemonNet[] = [];
  const destroy = () => {
    for (const d of daemons) {
      spawnSync("ip", ["link", "del", d.hostIf]);
      spawnSync("ip", ["netns", "del", d.ns]);
    }
  };
  try {
    for (let i = 0; i < count; i++) {
      const ns = `tmc-${tag}-${i}`;
      const hostIf = `tmc${tag}h${i}`.slice(0, 15);
      const nsIf = `tmc${tag}n${i}`.slice(0, 15);
      const hostIp = `10.231.${third}.${4 * i + 1}`;
      const nsIp = `10.231.${third}.${4 * i + 2}`;
      spawnSync("ip", ["netns", "del", ns]);
      spawnSync("ip", ["link", "del", hostIf]);
      run("ip", ["netns", "add", ns]);
      daemons.push({ index: i, ns, hostIp, nsIp, hostIf, exec: ["nsenter", `--net=/run/netns/${ns}`, "--"] });
      run("ip", ["link", "add", hostIf, "type", "veth", "peer", "name", nsIf]);
      run("ip", ["link", "set", nsIf, "netns", ns]);
      run("ip", ["addr", "add", `${hostIp}/30`, "dev", hostIf]);
      run("ip", ["link", "set", hostIf, "up"]);
      run("ip", ["-n", ns, "addr", "add", `${nsIp}/30`, "dev", nsIf]);
      run("ip", ["-n", ns, "link", "set", nsIf, "up"]);
      run("ip", ["-n", ns, "link", "set", "lo", "up"]);
      run("ip", ["-n", ns, "route", "add", "default", "via", hostIp]);
    }
  } catch (err) {
    destroy();
    throw err;
  }
  const nft = (i: number, script: string) => {
    const r = spawnSync("ip", ["netns", "exec", daemons[i].ns, "nft", "-f", "-"], {
      input: script,
      encoding: "utf8",
    });
    if (r.status !== 0) throw new Error(`nft in ${daemons[i].ns}: ${r.stderr}`);
  };
  return {
    subnet,
    daemons,
    partition(i, proxyPort) {
      const h = daemons[i].hostIp;
      nft(
        i,
        `table inet chaos {
  chain out { type filter hook output priority 0; ip daddr ${h} tcp dport ${proxyPort} drop; }
  chain in { type filter hook input priority 0; ip saddr ${h} tcp sport ${proxyPort} drop; }
}`,
      );
    },
    linkDown(i) {
      run("ip", ["link", "set", daemons[i].hostIf, "down"]);
      // With the link's route gone, packets would take the host's default route (here, to an
      // egress proxy that answers 403): make the address plainly unreachable instead.
      spawnSync("ip", ["route", "add", "unreachable", `${daemons[i].nsIp}/32`]);
    },
    heal(i) {
      spawnSync("ip", ["netns", "exec", daemons[i].ns, "nft", "delete", "table", "inet", "chaos"]);
      spawnSync("ip", ["route", "del", "unreachable", `${daemons[i].nsIp}/32`]);
      run("ip", ["link", "set", daemons[i].hostIf, "up"]);
    },
    destroy,
  };
}

/** For the report: the rules in force in a namespace. */
export function nftRules(ns: string): string {
  try {
    return execFileSync("ip", ["netns", "exec", ns, "nft", "list", "ruleset"], { encoding: "utf8" });
  } catch {
    return "";
  }
}
