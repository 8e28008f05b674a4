/**
 * Regression test for a bug the chaos run found (issue 8): after a Postgres restart, two relay
 * processes on one database stopped delivering each other's live changes. The relay's LISTEN
 * connection swallowed its error and was never re-opened, so NOTIFY from the other process was
 * lost; a daemon on relay B stayed "live" and never saw a write made through relay A until its
 * socket happened to reconnect. Now sync-server/src/store/notify-listener.ts reconnects and
 * tells the hub to resynchronise.
 */
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import {
  api,
  type DaemonProcess,
  freePort,
  type RelayProcess,
  relayInit,
  startDaemonProcess,
  startRelayProcess,
  tempDir,
  waitFor,
} from "../sync/harness.ts";
import { type ChaosPostgres, postgresAvailable, startChaosPostgres } from "./postgres.ts";

const dir = tempDir("tm-pg-restart-");
const procs: (RelayProcess | DaemonProcess)[] = [];
let pg: ChaosPostgres | null = null;
afterAll(async () => {
  await Promise.all(procs.map((p) => p.kill()));
  pg?.stop();
  dir.remove();
});

it.skipIf(Boolean(postgresAvailable()))(
  "after a Postgres restart, a write through relay one still reaches a daemon on relay two live",
  async () => {
    pg = await startChaosPostgres();
    const db = { args: ["--database-url", pg.appUrl, "--admin-database-url", pg.adminUrl] };
    const { apiKey } = await relayInit(db);
    const r0 = await startRelayProcess(db, await freePort());
    const r1 = await startRelayProcess(db, await freePort());
    procs.push(r0, r1);
    const a = await startDaemonProcess({
      home: join(dir.path, "a"),
      relayUrl: r0.url,
      apiKey,
      instance: "a",
    });
    const b = await startDaemonProcess({
      home: join(dir.path, "b"),
      relayUrl: r1.url,
      apiKey,
      instance: "b",
    });
    procs.push(a, b);
    const reaches = async (content: string) => {
      const id = (await a.call<{ memory_id: string }>("POST", "/v1/remember", { content })).body.memory_id;
      return waitFor(
        "b to receive it",
        async () => (await b.call("GET", `/v1/memories/${id}`)).status === 200,
        20_000,
      )
        .then(() => true)
        .catch(() => false);
    };
    await waitFor("both live", async () => {
      for (const d of [a, b])
        if ((await d.call<{ state: string }>("GET", "/v1/sync/status")).body.state !== "live") return false;
      return true;
    });
    expect(await reaches("before the restart")).toBe(true);
    await pg.restart("fast");
    await waitFor(
      "relays to answer again",
      async () => (await api(r0.url, "GET", "/v1/stats", undefined, apiKey)).status === 200,
    );
    expect(await reaches("after the restart")).toBe(true);
  },
  120_000,
);
