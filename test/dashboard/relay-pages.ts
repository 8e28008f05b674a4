import { setPlan } from "@tribalmemory/sync-server/store/pg-plans";
import { api } from "@tribalmemory/sync-server/testing";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccountClient } from "../helpers/account-client.ts";
import { checkAtBothWidths, DESKTOP, type PageProblems, watchedPage } from "./browser.ts";
import type { DashboardEnv } from "./env.ts";

/**
 * The relay's dashboard in Chromium, one context per person: sign up, a new workspace, a key
 * shown once, a memory remembered through the API and found by the page's search, its history,
 * a correction, a revoked key refused at once, an invitation accepted in a second context, a
 * quota the page reports, usage, audit and billing; two people never see each other's
 * memories; a `<script>` memory is text; no key or session token ever appears in a URL.
 */

let env: DashboardEnv;
const contexts: BrowserContext[] = [];
const stamp = Date.now();
const PASSWORD = "correct horse battery";
const SHIP = "The team ships on Tuesdays, never on Fridays";
const XSS = `<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2; alert('xss')">`;

/** Every URL each page visited: none may carry a key or a session token. */
const visited: string[] = [];

const poll = <T>(read: () => Promise<T> | T) => expect.poll(read, { timeout: 10_000 });

async function person(): Promise<{ page: Page; problems: PageProblems }> {
  const context = await (env.browser as Browser).newContext({ viewport: DESKTOP });
  context.setDefaultTimeout(5_000);
  contexts.push(context);
  const watched = await watchedPage(context);
  watched.page.on("request", (r) => visited.push(r.url()));
  watched.page.on("framenavigated", (f) => visited.push(f.url()));
  return watched;
}

async function checkPage(page: Page, name: string) {
  expect(await checkAtBothWidths(page, name)).toEqual([]);
}

async function signUp(page: Page, email: string, workspace?: string) {
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password (at least 10 characters)").fill(PASSWORD);
  if (workspace) await page.getByLabel("First workspace’s name").fill(workspace);
  await page.getByRole("button", { name: "Sign up", exact: true }).click();
}

const nav = (page: Page, name: string) =>
  page.getByRole("navigation", { name: "Pages" }).getByRole("link", { name }).click();
const heading = (page: Page) => page.locator("main h1").textContent();

let alice: { page: Page; problems: PageProblems };
let teamId = "";
let apiKey = "";
let shipId = "";
let xssId = "";
let invitation = "";

export function relayPageTests(shared: DashboardEnv, haveChromium: boolean): void {
  describe.skipIf(!haveChromium)("the relay's dashboard", () => {
    beforeAll(async () => {
      env = shared;
      alice = await person();
    });
    afterAll(async () => {
      for (const c of contexts) await c.close().catch(() => undefined);
    });

    it("signs up from the login page and lands in the first workspace", async () => {
      const { page } = alice;
      await page.goto(`${env.relay.url}/`);
      await poll(() => heading(page)).toBe("Log in");
      await checkPage(page, "relay-login");
      await page.getByRole("link", { name: "Sign up" }).first().click();
      await poll(() => heading(page)).toBe("Sign up");
      await checkPage(page, "relay-signup");
      await signUp(page, `alice-${stamp}@example.com`, "Alpha");
      await poll(() => heading(page)).toBe("Memories");
      expect(await page.getByLabel("Workspace").locator("option:checked").textContent()).toBe(
        "Alpha (owner)",
      );
    });

    it("creates a workspace and switches to it", async () => {
      const { page } = alice;
      await nav(page, "Workspaces");
      await page.getByLabel("Name").fill("Team");
      await page.getByLabel("Name").press("Enter");
      await poll(() => page.getByLabel("Workspace").locator("option:checked").textContent()).toBe(
        "Team (owner)",
      );
      teamId = await page.getByLabel("Workspace").inputValue();
      await checkPage(page, "relay-workspaces");
    });

    it("creates a key whose secret is shown once, then only its prefix", async () => {
      const { page } = alice;
      await nav(page, "Keys");
      await page.getByLabel("Name").fill("ci agent");
      await page.getByRole("button", { name: "Create key" }).click();
      const secret = page.getByLabel("Secret");
      await poll(() => secret.inputValue()).toMatch(/^tm_live_/);
      apiKey = await secret.inputValue();
      await checkPage(page, "relay-keys-created");
      await page.getByRole("button", { name: "I have copied it" }).click();
      await poll(() => page.locator("tbody tr").count()).toBe(1);
      await poll(() => page.locator("tbody").textContent()).toContain(`${apiKey.slice(0, 16)}…`);
      await page.reload();
      await poll(() => page.locator("tbody tr").count()).toBe(1);
      expect(await page.content()).not.toContain(apiKey);
      await checkPage(page, "relay-keys");
    });

    it("finds by search in the page a memory remembered through the API; a <script> memory is text", async () => {
      const { page, problems } = alice;
      for (const content of [SHIP, XSS]) {
        const r = await api<{ memory_id: string }>(
          env.relay.url,
          "POST",
          "/v1/remember",
          {
            content,
            tags: ["process"],
            source_instance: "codex@ci",
          },
          apiKey,
        );
        expect(r.status).toBe(201);
        if (content === SHIP) shipId = r.body.memory_id;
        else xssId = r.body.memory_id;
      }
      await nav(page, "Memories");
      await poll(() => page.locator(".card .content").count()).toBe(2);
      await poll(() => page.getByText(XSS, { exact: true }).isVisible()).toBe(true);
      expect(await page.evaluate("window.__xss")).toBeUndefined();
      expect(await page.locator('img[src="x"]').count()).toBe(0);
      expect(problems.dialogs).toEqual([]);
      await page.getByLabel("Search", { exact: true }).fill("when does the team ship");
      await page.getByLabel("Search", { exact: true }).press("Enter");
      await poll(() => page.locator(".card .content").first().textContent()).toBe(SHIP);
      await checkPage(page, "relay-memories");
    });

    it("opens the memory's history and corrects it", async () => {
      const { page } = alice;
      await page.locator(".card", { hasText: SHIP }).getByRole("link", { name: "Details" }).click();
      await poll(() => page.locator(".history > li").first().textContent()).toContain("agent codex@ci");
      // Written through the HTTP API: the relay names its own actor so.
      expect(await page.locator(".history > li .device").first().textContent()).toBe("relay (HTTP API)");
      await page.getByRole("button", { name: "Correct…" }).click();
      await page.getByLabel("Corrected content").fill("The team ships on Tuesdays and Thursdays");
      await page.getByRole("button", { name: "Save correction" }).click();
      await poll(() => page.getByRole("link", { name: shipId }).isVisible()).toBe(true);
      await poll(() => page.locator(".content").textContent()).toBe(
        "The team ships on Tuesdays and Thursdays",
      );
      await checkPage(page, "relay-memory");
      const original = await api<{ superseded: boolean }>(
        env.relay.url,
        "GET",
        `/v1/memories/${shipId}/history`,
        undefined,
        apiKey,
      );
      expect(original.body.superseded).toBe(true);
      // The original's page names the correction that superseded it.
      const correctionId = page.url().split("/").at(-1) as string;
      await page.goto(`${env.relay.url}/memories/${shipId}`);
      await poll(() => page.getByRole("link", { name: correctionId }).isVisible()).toBe(true);
      expect(await page.locator(".facts").textContent()).toContain("superseded by a correction");
    });

    it("purges a memory after asking: it is gone from the workspace", async () => {
      const { page } = alice;
      await page.goto(`${env.relay.url}/memories/${xssId}`);
      await poll(() => page.locator(".content").textContent()).toBe(XSS);
      await page.getByRole("button", { name: "Purge" }).click();
      await page.getByRole("button", { name: "Yes, purge it" }).click();
      await poll(() => heading(page)).toBe("Memories");
      const gone = await api<{ error: { code: string } }>(
        env.relay.url,
        "GET",
        `/v1/memories/${xssId}`,
        undefined,
        apiKey,
      );
      expect(gone.status).toBe(404);
      expect(gone.body.error.code).toBe("MEMORY_NOT_FOUND");
      await poll(() => page.locator(".card .content").allTextContents()).not.toContain(XSS);
    });

    it("revokes the key after asking; the next API call with it is refused", async () => {
      const { page } = alice;
      await nav(page, "Keys");
      await page.getByRole("button", { name: "Revoke ci agent" }).click();
      expect((await api(env.relay.url, "GET", "/v1/stats", undefined, apiKey)).status).toBe(200);
      await page.getByRole("button", { name: "Yes, revoke" }).click();
      await poll(() => page.locator("tbody").textContent()).toMatch(/revoked/);
      const refused = await api<{ error: { code: string } }>(
        env.relay.url,
        "GET",
        "/v1/stats",
        undefined,
        apiKey,
      );
      expect(refused.status).toBe(401);
      expect(refused.body.error.code).toBe("API_KEY_REVOKED");
    });

    it("invites a member, who signs up and accepts in a second browser context", async () => {
      const { page } = alice;
      await nav(page, "Members");
      await page.getByRole("button", { name: "Create invitation" }).click();
      const link = page.getByLabel("Invitation link");
      await poll(() => link.inputValue()).toContain("/invite#");
      invitation = await link.inputValue();
      await checkPage(page, "relay-members");

      const bob = await person();
      await bob.page.goto(invitation);
      await poll(() => heading(bob.page)).toBe("Join a workspace");
      await checkPage(bob.page, "relay-invite");
      await signUp(bob.page, `bob-${stamp}@example.com`);
      await bob.page.getByRole("button", { name: "Accept invitation" }).click();
      await poll(() => heading(bob.page)).toBe("Memories");
      expect(await bob.page.getByLabel("Workspace").locator("option:checked").textContent()).toBe(
        "Team (member)",
      );
      await poll(() => bob.page.locator(".card .content").allTextContents()).toContain(
        "The team ships on Tuesdays and Thursdays",
      );
      // The token left the address bar once used.
      expect(bob.page.url()).not.toContain("#");
      await page.reload();
      await poll(() => page.locator("tbody").textContent()).toContain(`bob-${stamp}@example.com`);
    });

    it("never shows one person's workspace to another", async () => {
      // Alice writes in Alpha, which Bob does not belong to; Carol has her own workspace.
      const { page } = alice;
      await page.getByLabel("Workspace").selectOption({ label: "Alpha (owner)" });
      await nav(page, "Workspaces");
      const carol = await person();
      await carol.page.goto(`${env.relay.url}/signup`);
      await signUp(carol.page, `carol-${stamp}@example.com`, "Carol's");
      await poll(() => carol.page.getByRole("status").first().textContent()).toBe("0 newest memories");
      // Even with the id of Alice's memory in the address, Carol's workspace has no such memory.
      await carol.page.goto(`${env.relay.url}/memories/${shipId}`);
      await poll(() => carol.page.getByRole("alert").textContent()).toContain("MEMORY_NOT_FOUND");
      expect(await carol.page.content()).not.toContain("Tuesdays");
      const bobPage = contexts[1].pages()[0];
      await bobPage.reload();
      await poll(() => bobPage.getByLabel("Workspace").locator("option").allTextContents()).toEqual([
        "Team (member)",
      ]);
      await page.getByLabel("Workspace").selectOption({ label: "Team (owner)" });
    });

    it("manages members from the keyboard: a role changed, an invitation revoked, a member removed and their key refused", async () => {
      const { page } = alice;
      const bobPage = contexts[1].pages()[0];
      const bobEmail = `bob-${stamp}@example.com`;
      await nav(page, "Members");
      // Promote Bob with the arrow key on the focused select (each choice applies at once).
      const role = page.getByLabel(`Role of ${bobEmail}`);
      await poll(() => role.inputValue()).toBe("member");
      await role.focus();
      await role.press("ArrowUp");
      await poll(() => role.inputValue()).toBe("admin");
      await bobPage.reload();
      await poll(() => bobPage.getByLabel("Workspace").locator("option:checked").textContent()).toBe(
        "Team (admin)",
      );
      // As an admin Bob makes a key of his own.
      await nav(bobPage, "Keys");
      await bobPage.getByLabel("Name").fill("bob laptop");
      await bobPage.getByLabel("Name").press("Enter");
      const secret = bobPage.getByLabel("Secret");
      await poll(() => secret.inputValue()).toMatch(/^tm_live_/);
      const bobKey = await secret.inputValue();
      expect((await api(env.relay.url, "GET", "/v1/stats", undefined, bobKey)).status).toBe(200);

      // An invitation for Dave, revoked before he uses it: Enter on the button, Enter on the
      // confirmation, which takes the focus.
      await page
        .getByLabel("Email (optional: only this person may accept)")
        .fill(`dave-${stamp}@example.com`);
      await page.getByRole("button", { name: "Create invitation" }).press("Enter");
      const link = page.getByLabel("Invitation link");
      await poll(() => link.inputValue()).toContain("/invite#");
      const daveToken = (await link.inputValue()).split("#")[1];
      const revoke = page.getByRole("button", { name: `Revoke invitation for dave-${stamp}@example.com` });
      await revoke.focus();
      await page.keyboard.press("Enter");
      await poll(() => page.locator(":focus").textContent()).toBe("Yes, revoke");
      await page.keyboard.press("Enter");
      await poll(() => revoke.count()).toBe(0);
      const dave = new AccountClient(env.relay.url);
      await dave.signup(`dave-${stamp}@example.com`);
      const refused = await dave.call("POST", "/v1/invitations/accept", { token: daveToken });
      expect([refused.status, refused.body.error.code]).toEqual([404, "INVITATION_NOT_FOUND"]);

      // Bob removed: his key is refused at once, and his page no longer lists the workspace.
      await page.getByRole("button", { name: /^Remove / }).focus();
      await page.keyboard.press("Enter");
      await poll(() => page.locator(":focus").textContent()).toBe("Yes");
      await page.keyboard.press("Enter");
      await poll(() => page.locator("tbody").first().textContent()).not.toContain(bobEmail);
      const gone = await api<{ error: { code: string } }>(
        env.relay.url,
        "GET",
        "/v1/stats",
        undefined,
        bobKey,
      );
      expect([gone.status, gone.body.error.code]).toEqual([401, "API_KEY_REVOKED"]);
      await checkPage(page, "relay-members-managed");
    });

    it("shows usage against the plan and says so when a quota is hit", async () => {
      const { page } = alice;
      await setPlan(env.db, teamId, {
        plan: "enterprise",
        customLimits: { queries_per_month: 1 },
        source: "admin",
      });
      await nav(page, "Memories");
      await page.getByLabel("Search", { exact: true }).fill("ship");
      await page.getByLabel("Search", { exact: true }).press("Enter");
      await poll(() => page.getByRole("alert").textContent()).toContain("QUERY_QUOTA_EXCEEDED");
      expect(await page.getByRole("alert").textContent()).toContain("allows 1 recalls a month");
      await checkPage(page, "relay-quota");
      await nav(page, "Usage");
      await poll(() => page.locator(".gauge.full").textContent()).toContain("Recalls this month");
      expect(await page.locator(".gauge.full").textContent()).toContain("limit reached");
      // A chart per measure over 30 days; the recall limit (1 a month) drawn as a line, the
      // month's recall at it drawn as over, and the series in words for a screen reader.
      const charts = page.locator("figure.chart");
      await poll(() => charts.count()).toBe(6);
      const recalls = charts.filter({ hasText: "Recalls this month" });
      expect(await recalls.locator("line.limit").count()).toBe(1);
      expect(await recalls.locator("rect.bar.over").count()).toBe(1);
      const today = new Date().toISOString().slice(0, 10);
      expect(await recalls.locator("svg title").textContent()).toMatch(
        new RegExp(`^Recalls this month, .* to ${today}: .*${today} 1; limit 1$`),
      );
      expect(await charts.filter({ hasText: "Storage" }).locator("line.limit").count()).toBe(0);
      await page.getByText("The last 30 days as a table").click();
      expect(await page.getByRole("region", { name: "Usage by day" }).locator("tbody tr").count()).toBe(30);
      // Closed again: the screenshots show the charts.
      await page.getByText("The last 30 days as a table").click();
      await checkPage(page, "relay-usage");
    });

    it("lists the audit log with a filter, and the plan and billing", async () => {
      const { page } = alice;
      await nav(page, "Audit log");
      await poll(() => page.locator("tbody tr").count()).toBeGreaterThan(2);
      await page.getByLabel("Action (e.g. key.* or memory.recall)").fill("key.*");
      await page.getByRole("button", { name: "Filter" }).click();
      await poll(
        async () => new Set((await page.locator("tbody td code").allTextContents()).map(String)),
      ).toEqual(new Set(["key.create", "key.revoke"]));
      await checkPage(page, "relay-audit");
      await nav(page, "Plan & billing");
      await poll(() => page.locator("main").textContent()).toContain("on the enterprise plan");
      // This relay takes no payments: choosing a plan says so and who sets plans instead.
      await page.getByRole("button", { name: "Choose Pro" }).click();
      await poll(() => page.getByRole("alert").textContent()).toContain("BILLING_NOT_CONFIGURED");
      await checkPage(page, "relay-billing");
    });

    it("logs out and in again; no URL ever carried a key or a session token", async () => {
      const { page, problems } = alice;
      await page.getByRole("button", { name: "Log out" }).click();
      await poll(() => heading(page)).toBe("Log in");
      await page.getByLabel("Email").fill(`alice-${stamp}@example.com`);
      await page.getByLabel("Password").fill(PASSWORD);
      await page.getByLabel("Password").press("Enter");
      await poll(() => heading(page)).toBe("Memories");
      const cookies = await contexts[0].cookies();
      const secrets = [apiKey, ...cookies.map((c) => c.value).filter((v) => v.length > 20)];
      for (const url of visited) for (const s of secrets) expect(url).not.toContain(s);
      // The invitation token travelled only in the fragment.
      const token = invitation.split("#")[1];
      for (const url of visited.filter((u) => u.includes(token)))
        expect(url.indexOf(token)).toBeGreaterThan(url.indexOf("#"));
      expect(problems.dialogs).toEqual([]);
    });
  });
}
