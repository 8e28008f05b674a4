import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Fastify from "fastify";
import { afterAll, describe, expect, it } from "vitest";
import { DASHBOARD_CSP, registerDashboard } from "./dashboard-static.ts";
import { installServerBasics } from "./server-basics.ts";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function appWith(files: Record<string, string>, source: "daemon" | "relay" = "daemon") {
  const root = mkdtempSync(join(tmpdir(), "tm-dash-files-"));
  dirs.push(root);
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(root, name, ".."), { recursive: true });
    writeFileSync(join(root, name), text);
  }
  const app = Fastify();
  installServerBasics(app);
  registerDashboard(app, { source, root });
  return app;
}

describe("registerDashboard", () => {
  it("answers 503 DASHBOARD_NOT_BUILT, saying how to build it, when dist/ is missing; the API is unaffected", async () => {
    const app = appWith({});
    const res = await app.inject({ method: "GET", url: "/memories" });
    expect(res.statusCode).toBe(503);
    expect(res.json().error.code).toBe("DASHBOARD_NOT_BUILT");
    expect(res.json().error.message).toContain("pnpm install");
    expect((await app.inject({ method: "GET", url: "/v1/nothing" })).json().error.code).toBe(
      "ROUTE_NOT_FOUND",
    );
  });

  it("writes the server's kind into the page and types each asset by its extension", async () => {
    const app = appWith(
      {
        "index.html": '<meta name="tribal-source" content=""><p>x</p>',
        "assets/app-1.css": "p{}",
        "assets/app-1.js": "export{}",
      },
      "relay",
    );
    const page = await app.inject({ method: "GET", url: "/invite" });
    expect(page.body).toBe('<meta name="tribal-source" content="relay"><p>x</p>');
    expect(page.headers["content-security-policy"]).toBe(DASHBOARD_CSP);
    expect(page.headers["x-frame-options"]).toBe("DENY");
    const css = await app.inject({ method: "GET", url: "/assets/app-1.css" });
    expect(css.headers["content-type"]).toBe("text/css; charset=utf-8");
    expect(css.headers["x-content-type-options"]).toBe("nosniff");
    const traversal = await app.inject({ method: "GET", url: "/assets/..%2Findex.html" });
    expect(traversal.statusCode).toBe(404);
  });
});
