/**
 * Runs inside a daemon's network namespace: forwards TCP from the namespace's veth address
 * to the daemon's loopback port, so the test in the host namespace can call a daemon that
 * only listens on 127.0.0.1. It outlives the daemon (SIGKILL and restart of the daemon keep
 * the same address); a connection while the daemon is down is reset, like a refused one.
 *
 *   node ns-forward.ts LISTEN_HOST LISTEN_PORT TARGET_PORT
 */
import { connect, createServer } from "node:net";

const [host, port, target] = process.argv.slice(2);
const server = createServer((client) => {
  const upstream = connect(Number(target), "127.0.0.1");
  client.pipe(upstream);
  upstream.pipe(client);
  const drop = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on("error", drop);
  upstream.on("error", drop);
  client.on("close", drop);
  upstream.on("close", drop);
});
server.listen(Number(port), host, () => process.stdout.write("forwarding\n"));
