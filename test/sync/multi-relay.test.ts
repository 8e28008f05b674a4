import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import {
  api,
  type DaemonProcess,
  freePort,
  type RelayProcess,
  relayDb,
  relayInit,
  startDaemonProcess,
  startRelayProcess,
  tempDir,
  waitFor,
} from "./harness.ts";

// Two relay processes need a shared server database: PGlite is one process by design.
const hasPostgres = Boolean(process.env.TEST_APP_DATABASE_URL);
const dir = tempDir("tm-multi-");
const procs: (RelayProcess | DaemonProcess)[] = [];
afterAll(async () => {
  await Promise.all(procs.map((p) => p.kill()));
  dir.remove();
});

it.skipIf(!hasPostgres)(
  "two relay processes over one database deliver each other's live changes (LISTEN/NOTIFY)",
  async () => {
    const db = relayDb(join(dir.path, "unused"));
    const { apiKey } = await relayInit(db);
    const [r1, r2] = await Promise.all([
      freePort().then((p) => startRelayProcess(db, p)),
      freePort().then((p) => startRelayProcess(db, p)),
    ]);
    procs.push(r1, r2);
    const [a, b] = await Promise.all([
      startDaemonProcess({ home: join(dir.path, "a"), relayUrl: r1.url, apiKey, instance: "a" }),
      startDaemonProcess({ home: join(dir.path, "b"), relayUrl: r2.url, apiKey, instance: "b" }),
    ]);
    procs.push(a, b);
    await waitFor("both live", async () => {
      for (const d of [a, b])
        if ((await d.call<{ state: string }>("GET", "/v1/sync/status")).body.state !== "live") return false;
      return true;
    });
    const id = (
      await a.call<{ memory_id: string }>("POST", "/v1/remember", { content: "written via relay one" })
    ).body.memory_id;
    await waitFor(
      "B (on relay two) to receive it",
      async () => (await b.call("GET", `/v1/memories/${id}`)).status === 200,
      10_000,
    );
    const viaR2 = await api<{ memory_id: string }>(
      r2.url,
      "POST",
      "/v1/remember",
      { content: "written on relay two's API" },
      apiKey,
    );
    await waitFor(
      "A (on relay one) to receive it",
      async () => (await a.call("GET", `/v1/memories/${viaR2.body.memory_id}`)).status === 200,
      10_000,
    );
    expect(
      (await a.call<{ content: string }>("GET", `/v1/memories/${viaR2.body.memory_id}`)).body.content,
    ).toBe("written on relay two's API");
  },
  90_000,
);
