import { afterAll, beforeAll } from "vitest";
import { chromiumAvailable } from "./browser.ts";
import { daemonPageTests } from "./daemon-pages.ts";
import { type DashboardEnv, startDashboardEnv } from "./env.ts";
import { historyRouteTests } from "./history-route.ts";
import { relayPageTests } from "./relay-pages.ts";
import { servingTests } from "./serving.ts";

/**
 * The web dashboard (issue 11), against one relay and one daemon that syncs with it, in one
 * Chromium with a context per person: set up once for every part, as each part's own relay
 * and browser cost ~15 s on a 2-core machine. The parts run in this order: serving and CSP,
 * the daemon's pages, the relay's pages, then the history route (it adds daemon memories).
 */

const haveChromium = chromiumAvailable();
// Filled in before the first test; each part reads it only inside its tests and hooks.
const env = {} as DashboardEnv;

beforeAll(async () => {
  Object.assign(env, await startDashboardEnv(haveChromium));
});
afterAll(async () => {
  await env.close?.();
});

servingTests(env, haveChromium);
daemonPageTests(env, haveChromium);
relayPageTests(env, haveChromium);
historyRouteTests(env);
