import { readdirSync } from "node:fs";
import { DASHBOARD_CSP } from "@tribalmemory/shared/http/dashboard-static";
import type { Browser } from "playwright-core";
import { describe, expect, it } from "vitest";
import { AccountClient } from "../helpers/account-client.ts";
import { watchedPage } from "./browser.ts";
import type { DashboardEnv } from "./env.ts";

/**
 * The dashboard's files as both servers serve them: index.html for the app's paths with the
 * server's kind in its meta, hashed assets cached for a year and revalidated by ETag, a strict
 * Content-Security-Policy on every answer, and the daemon's local guard still in front (a
 * foreign Host or Origin gets nothing). Then a real Chromium loads each and logs no error.
 */
export function servingTests(env: DashboardEnv, haveChromium: boolean): void {
  const script = readdirSync(new URL("../../dashboard/dist/assets/", import.meta.url)).find((f) =>
    f.endsWith(".js"),
  );
  const get = (base: string, path: string, headers: Record<string, string> = {}) =>
    fetch(`${base}${path}`, { headers, redirect: "manual" });

  const codeOf = async (res: Response) => ((await res.json()) as { error: { code: string } }).error.code;

  describe.each([
    ["daemon", () => env.daemon.url],
    ["relay", () => env.relay.url],
  ])("the %s serves the dashboard", (source, base) => {
    it("answers index.html at / and at each app path with the CSP and the server's kind", async () => {
      for (const path of [
        "/",
        "/memories",
        "/memories/0199d4a0-0000-7000-8000-000000000000",
        "/sync",
        "/keys",
      ]) {
        const res = await get(base(), path);
        expect(res.status, path).toBe(200);
        expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
        expect(res.headers.get("content-security-policy")).toBe(DASHBOARD_CSP);
        expect(res.headers.get("x-content-type-options")).toBe("nosniff");
        expect(res.headers.get("referrer-policy")).toBe("no-referrer");
        expect(res.headers.get("cache-control")).toBe("no-cache");
        const html = await res.text();
        expect(html).toContain(`<meta name="tribal-source" content="${source}">`);
        expect(html).toContain(`<script type="module" src="/assets/${script}"></script>`);
        // No inline code: every script names a file.
        expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
        expect(html).not.toMatch(/<style|\sstyle=/);
      }
    });

    it("serves hashed assets for a year with an ETag, and 304 when it matches", async () => {
      const res = await get(base(), `/assets/${script}`);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
      expect(res.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
      expect(res.headers.get("content-security-policy")).toBe(DASHBOARD_CSP);
      const etag = res.headers.get("etag") as string;
      expect(etag).toMatch(/^"[\w-]{27}"$/);
      const again = await get(base(), `/assets/${script}`, { "if-none-match": etag });
      expect(again.status).toBe(304);
      expect(await again.text()).toBe("");
    });

    it("answers an unknown asset or path with the coded 404, not the page", async () => {
      const asset = await get(base(), "/assets/app-NOPE.js");
      expect(asset.status).toBe(404);
      expect(await codeOf(asset)).toBe("ROUTE_NOT_FOUND");
      const other = await get(base(), "/nothing-here");
      expect(other.status).toBe(404);
      expect(await codeOf(other)).toBe("ROUTE_NOT_FOUND");
    });
  });

  describe("the relay's session probe (GET /v1/auth/session)", () => {
    it("answers 200 without a session, and the user, workspaces and CSRF token with one, until logout", async () => {
      const c = new AccountClient(env.relay.url);
      const anonymous = await c.call("GET", "/v1/auth/session");
      expect(anonymous.status).toBe(200);
      expect(anonymous.body).toEqual({ authenticated: false });
      const { user, workspace, csrf_token } = await c.signup(`probe-${Date.now()}@example.com`);
      const mine = await c.call("GET", "/v1/auth/session");
      expect(mine.status).toBe(200);
      expect(mine.body).toMatchObject({ authenticated: true, user: { id: user.id }, csrf_token });
      expect(mine.body.workspaces.map((w: { id: string }) => w.id)).toEqual([workspace?.id]);
      const cookie = c.cookie;
      expect((await c.call("POST", "/v1/auth/logout")).status).toBe(200);
      // The logged-out session's cookie, sent again, is no session.
      c.cookie = cookie;
      const after = await c.call("GET", "/v1/auth/session");
      expect(after.body).toEqual({ authenticated: false });
    });
  });

  describe("the daemon's guard covers the page", () => {
    it("refuses a foreign Host (DNS rebinding) and a foreign Origin, accepts its own origin's POST", async () => {
      const { request } = await import("undici");
      const rebound = await request(`${env.daemon.url}/`, { headers: { host: "evil.example:18790" } });
      expect(rebound.statusCode).toBe(421);
      expect(((await rebound.body.json()) as { error: { code: string } }).error.code).toBe(
        "HOST_NOT_ALLOWED",
      );
      const foreign = await get(env.daemon.url, "/", { origin: "https://evil.example" });
      expect(foreign.status).toBe(403);
      expect(await codeOf(foreign)).toBe("ORIGIN_NOT_ALLOWED");
      const crossSite = await get(env.daemon.url, "/assets/x.js", { "sec-fetch-site": "cross-site" });
      expect(crossSite.status).toBe(403);
      // What a same-origin fetch from the page sends: its own origin.
      const own = await fetch(`${env.daemon.url}/v1/recall`, {
        method: "POST",
        headers: {
          origin: env.daemon.url,
          "content-type": "application/json",
          "sec-fetch-site": "same-origin",
        },
        body: JSON.stringify({ query: "anything" }),
      });
      expect(own.status).toBe(200);
    });
  });

  describe.skipIf(!haveChromium)("in Chromium", () => {
    it.each([
      ["daemon", () => env.daemon.url, "Memories"],
      ["relay", () => env.relay.url, "Log in"],
    ])("the %s's page loads under its CSP with no console error", async (_source, base, heading) => {
      const context = await (env.browser as Browser).newContext();
      const { page, problems } = await watchedPage(context);
      const res = await page.goto(`${base()}/`);
      expect(res?.headers()["content-security-policy"]).toBe(DASHBOARD_CSP);
      await expect.poll(() => page.locator("h1").textContent()).toBe(heading);
      expect(problems.errors).toEqual([]);
      await context.close();
    });
  });
}
