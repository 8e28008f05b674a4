/**
 * Debian's Chromium driven by playwright-core (no downloaded browser), for the dashboard's
 * tests: one browser per test file, a context per user. Without /usr/bin/chromium the tests
 * are skipped on a workstation and FAIL in CI (`CI` set), where scripts/install-postgres.sh
 * installs it.
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";
export const SCREENSHOTS = fileURLToPath(new URL("../../test-results/dashboard/", import.meta.url));

/** Whether the browser tests run here: true with Chromium; throws in CI without it. */
export function chromiumAvailable(): boolean {
  if (existsSync(CHROMIUM)) return true;
  if (process.env.CI) {
    throw new Error(
      `${CHROMIUM} is missing: CI must install Debian's chromium (scripts/install-postgres.sh).`,
    );
  }
  return false;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 375, height: 812 };

/** What went wrong in a page: console errors, uncaught exceptions, refused CSP, dialogs. */
export interface PageProblems {
  errors: string[];
  dialogs: string[];
}

/** A page whose console errors, page errors and dialogs are collected (dialogs are dismissed). */
export async function watchedPage(context: BrowserContext): Promise<{ page: Page; problems: PageProblems }> {
  const page = await context.newPage();
  const problems: PageProblems = { errors: [], dialogs: [] };
  page.on("console", (m) => {
    if (m.type() === "error") problems.errors.push(m.text());
  });
  page.on("pageerror", (e) => problems.errors.push(String(e)));
  page.on("dialog", (d) => {
    problems.dialogs.push(d.message());
    void d.dismiss();
  });
  return { page, problems };
}

/**
 * The page as it is now at both widths: axe-core's serious and critical violations at each
 * (returned), and a screenshot of each under test-results/dashboard/<name>-{desktop,phone}.png.
 */
export async function checkAtBothWidths(page: Page, name: string): Promise<string[]> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const before = page.viewportSize() ?? DESKTOP;
  const violations: string[] = [];
  for (const [label, size] of [
    ["desktop", DESKTOP],
    ["phone", PHONE],
  ] as const) {
    await page.setViewportSize(size);
    for (const v of await seriousA11yViolations(page)) violations.push(`${label}: ${v}`);
    await page.screenshot({ path: join(SCREENSHOTS, `${name}-${label}.png`), fullPage: true });
  }
  await page.setViewportSize(before);
  return violations;
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[] }[];
}

/**
 * axe-core's violations of impact serious or critical in the page as it is now. The source is
 * evaluated through the DevTools protocol (page.evaluate), which the page's CSP does not
 * govern; the page itself still runs under it.
 */
export async function seriousA11yViolations(page: Page): Promise<string[]> {
  // A string is evaluated as it is (no eval() inside the page, which the CSP would refuse).
  if (!(await page.evaluate(() => "axe" in globalThis))) await page.evaluate(axeSource);
  const violations = (await page.evaluate(async () => {
    const w = globalThis as unknown as {
      document: unknown;
      axe: { run: (ctx: unknown, opts: object) => Promise<{ violations: unknown[] }> };
    };
    return (await w.axe.run(w.document, { resultTypes: ["violations"] })).violations;
  })) as AxeViolation[];
  return violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(" ")).join("; ")}`);
}

/** Polls `check` until it holds (hooks cannot use expect.poll). */
export async function until(check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
