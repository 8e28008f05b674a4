import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkAtBothWidths, DESKTOP, type PageProblems, SCREENSHOTS, until, watchedPage } from "./browser.ts";
import type { DashboardEnv } from "./env.ts";

/**
 * The daemon's dashboard in Chromium, on a daemon that syncs with a relay: the memories list
 * and the real recall with filters, a memory's detail and history, correct and forget, sync
 * status and sessions; memory content is text, never markup; the keyboard reaches everything;
 * each page has no serious accessibility violation and is photographed at both widths.
 */

let context: BrowserContext;
let page: Page;
let problems: PageProblems;
const ids: Record<string, string> = {};

const BILLING = "The billing-service moved from MySQL to Postgres 16";
const DEPLOY = "Deploys go through the staging cluster first";
const XSS = `<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2; alert('xss')">`;

/** Waits for what a page shows: 10 s, as a loaded 2-core machine may need. */
const poll = <T>(read: () => Promise<T> | T) => expect.poll(read, { timeout: 10_000 });

async function checkPage(name: string) {
  expect(await checkAtBothWidths(page, name)).toEqual([]);
}

export function daemonPageTests(env: DashboardEnv, haveChromium: boolean): void {
  describe.skipIf(!haveChromium)("the daemon's dashboard", () => {
    beforeAll(async () => {
      for (const [name, content, tags] of [
        ["billing", BILLING, ["infra", "db"]],
        ["deploy", DEPLOY, ["deploy"]],
        ["xss", XSS, ["xss"]],
      ] as const) {
        const r = await env.daemon.api.post("/v1/remember", {
          content,
          tags,
          source_instance: "claude-code@laptop",
        });
        expect(r.status).toBe(201);
        ids[name] = r.body.memory_id;
      }
      // Synced: the status page then shows a live connection and an empty outbox.
      await until(async () => {
        const status = (await env.daemon.api.get("/v1/sync/status")).body;
        return status.state === "live" && status.outbox === 0;
      });
      context = await (env.browser as Browser).newContext({ viewport: DESKTOP });
      context.setDefaultTimeout(5_000);
      ({ page, problems } = await watchedPage(context));
    });
    afterAll(() => context?.close());

    it("lists the newest memories, first paint measured, keyboard first stop is the skip link", async () => {
      await page.goto(`${env.daemon.url}/`);
      await poll(() => page.getByRole("status").first().textContent()).toBe("3 newest memories");
      const fcp = await page.evaluate(
        () => performance.getEntriesByName("first-contentful-paint")[0]?.startTime ?? null,
      );
      expect(fcp).toBeGreaterThan(0);
      mkdirSync(SCREENSHOTS, { recursive: true });
      writeFileSync(join(SCREENSHOTS, "first-paint.json"), JSON.stringify({ daemon_fcp_ms: fcp }));
      console.log(`[dashboard] first-contentful-paint on the daemon: ${fcp?.toFixed(0)} ms`);
      await page.keyboard.press("Tab");
      expect(await page.evaluate("document.activeElement?.textContent")).toBe("Skip to content");
      await page.evaluate("document.activeElement?.blur()");
      await checkPage("daemon-memories");
    });

    it("renders a memory holding <script> and <img onerror> as its literal text", async () => {
      await poll(() => page.getByText(XSS, { exact: true }).isVisible()).toBe(true);
      expect(await page.evaluate("window.__xss")).toBeUndefined();
      expect(await page.locator('img[src="x"]').count()).toBe(0);
      expect(problems.dialogs).toEqual([]);
    });

    it("searches with the real recall from the keyboard (Enter submits), and filters by tag", async () => {
      await page.getByLabel("Search", { exact: true }).fill("which database does billing use");
      await page.getByLabel("Search", { exact: true }).press("Enter");
      await poll(() => page.getByRole("status").first().textContent()).toMatch(/found for “which database/);
      await poll(() => page.locator(".card .content").first().textContent()).toBe(BILLING);
      await page.getByText("Filters").click();
      await page.getByLabel("Search", { exact: true }).fill("");
      await page.getByLabel("Tags (comma-separated)").fill("deploy");
      await page.getByRole("button", { name: "Search" }).click();
      await poll(() => page.locator(".card .content").allTextContents()).toEqual([DEPLOY]);
      await checkPage("daemon-search");
    });

    it("opens a memory's detail with its history", async () => {
      await page.goto(`${env.daemon.url}/memories/${ids.billing}`);
      await poll(() => page.locator(".content").textContent()).toBe(BILLING);
      const history = page.locator(".history > li");
      await poll(() => history.count()).toBe(1);
      await poll(() => history.first().textContent()).toContain("created");
      await poll(() => history.first().textContent()).toContain("agent claude-code@laptop");
      // The daemon's own change names its device, not only an actor id.
      expect(await history.first().locator(".device").textContent()).toBe("this device");
      await checkPage("daemon-memory");
    });

    it("corrects it (the page moves to the correction, which names the original) and forgets after asking", async () => {
      await page.getByRole("button", { name: "Correct…" }).click();
      await page.getByLabel("Corrected content").fill("The billing-service moved to Postgres 17");
      await page.getByRole("button", { name: "Save correction" }).click();
      await poll(() => page.url()).not.toContain(ids.billing);
      await poll(() => page.locator(".content").textContent()).toBe(
        "The billing-service moved to Postgres 17",
      );
      await poll(() => page.getByRole("link", { name: ids.billing }).isVisible()).toBe(true);
      const original = await env.daemon.api.get(`/v1/memories/${ids.billing}/history`);
      expect(original.body.superseded).toBe(true);
      const correctionUrl = page.url();
      // The original names its correction, a link back to it.
      await page.getByRole("link", { name: ids.billing }).click();
      await poll(() => page.locator(".content").textContent()).toBe(BILLING);
      await page.getByRole("link", { name: correctionUrl.split("/").at(-1) }).click();
      await poll(() => page.url()).toBe(correctionUrl);

      await page.getByRole("button", { name: "Forget" }).click();
      // Nothing is forgotten before the second, explicit press.
      expect((await env.daemon.api.get(page.url().replace(env.daemon.url, "/v1"))).body.deleted).toBe(false);
      await page.getByRole("button", { name: "Yes, forget it" }).click();
      await poll(() => page.getByRole("status").textContent()).toBe("Forgotten.");
      await poll(() => page.locator(".history > li").count()).toBe(2);
      expect((await env.daemon.api.get(page.url().replace(env.daemon.url, "/v1"))).body.deleted).toBe(true);
    });

    it("shows sync status: relay, live state, cursor, empty outbox, no dead letters", async () => {
      await page.getByRole("link", { name: "Sync" }).click();
      await poll(() => page.locator("h1").textContent()).toBe("Sync");
      const facts = page.locator(".facts");
      await poll(() => facts.textContent()).toContain(env.relay.url);
      await poll(() => facts.textContent()).toContain("live");
      await poll(() => facts.locator("div", { hasText: "Outbox" }).locator("dd").textContent()).toBe("0");
      await poll(() => facts.locator("div", { hasText: "Dead letters" }).locator("dd").textContent()).toBe(
        "0",
      );
      await checkPage("daemon-sync");
    });

    it("shows the sessions page", async () => {
      await page.getByRole("link", { name: "Sessions" }).click();
      await poll(() => page.locator("h1").textContent()).toBe("Sessions");
      await poll(() => page.getByText("Transcripts followed").isVisible()).toBe(true);
      await checkPage("daemon-sessions");
      expect(problems.dialogs).toEqual([]);
      expect(problems.errors).toEqual([]);
    });

    it("refuses to purge a synced memory on this machine, and the page says where to purge it", async () => {
      await page.goto(`${env.daemon.url}/memories/${ids.deploy}`);
      await poll(() => page.locator(".content").textContent()).toBe(DEPLOY);
      await page.getByRole("button", { name: "Purge" }).click();
      await page.getByRole("button", { name: "Yes, purge it" }).click();
      await poll(() => page.getByRole("alert").textContent()).toContain("PURGE_ON_RELAY");
      expect((await env.daemon.api.get(`/v1/memories/${ids.deploy}`)).status).toBe(200);
    });

    it("pages through the list with the cursor", async () => {
      const memories = Array.from({ length: 30 }, (_, i) => ({
        content: `Paging fact ${i}`,
        tags: ["paging"],
        skip_dedup: true,
      }));
      expect((await env.daemon.api.post("/v1/remember/batch", { memories })).status).toBe(201);
      const live = (await env.daemon.api.get("/v1/memories?limit=500")).body.memories.length;
      expect(live).toBeGreaterThan(25);
      await page.goto(`${env.daemon.url}/memories`);
      await poll(() => page.locator(".card").count()).toBe(25);
      await page.getByRole("button", { name: "Load more" }).click();
      await poll(() => page.locator(".card").count()).toBe(live);
      expect(await page.getByRole("button", { name: "Load more" }).count()).toBe(0);
    });
  });
}
