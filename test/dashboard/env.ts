/**
 * What the dashboard's tests run against, started once for the one test file (dashboard.test.ts):
 * a relay on the test database (plans read afresh, so a test can change one), a daemon that
 * syncs with it through a key of its own workspace, and Debian's Chromium when it is there.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { RunningDaemon } from "@tribalmemory/daemon/daemon";
import type { RelayDatabase, RunningRelay } from "@tribalmemory/sync-server";
import { openTestDatabase, startTestRelay } from "@tribalmemory/sync-server/testing";
import type { Browser } from "playwright-core";
import { AccountClient } from "../helpers/account-client.ts";
import { type ApiClient, startTestDaemon, tempHome } from "../helpers/daemon.ts";
import { launchChromium } from "./browser.ts";

export interface DashboardEnv {
  db: RelayDatabase;
  relay: RunningRelay;
  daemon: RunningDaemon & { api: ApiClient };
  /** The API key the daemon syncs with (its own workspace at the relay). */
  daemonKey: string;
  /** Null where Chromium is not installed (the browser tests are skipped, or fail in CI). */
  browser: Browser | null;
  close(): Promise<void>;
}

export async function startDashboardEnv(withBrowser: boolean): Promise<DashboardEnv> {
  const db = await openTestDatabase();
  const relay = await startTestRelay(db, { quotaCacheMs: 0 });
  const owner = new AccountClient(relay.url);
  const { workspace } = await owner.signup(`daemon-owner-${Date.now()}@example.com`);
  const key = await owner.call("POST", `/v1/workspaces/${workspace?.id}/keys`, { name: "laptop" });
  const home = tempHome("tm-dashboard-");
  writeFileSync(
    join(home.home, "config.yaml"),
    `sync:\n  enabled: true\n  cloud_url: ${relay.url}\n  api_key: ${key.body.key}\n`,
  );
  const [daemon, browser] = await Promise.all([
    startTestDaemon(home.home),
    withBrowser ? launchChromium() : Promise.resolve(null),
  ]);
  return {
    db,
    relay,
    daemon,
    daemonKey: key.body.key as string,
    browser,
    async close() {
      await browser?.close();
      await daemon.close();
      home.cleanup();
      await relay.close();
      await db.close();
    },
  };
}
