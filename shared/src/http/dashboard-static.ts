import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { extname, join } from "node:path";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import { installFile } from "../config/install-layout.ts";
import { TribalError } from "../errors.ts";
import type { ZodTypeProvider } from "./route-schemas.ts";

/**
 * The web dashboard (dashboard/, built into dashboard/dist at install) served by the daemon
 * and the relay alike: index.html for each of the app's paths, with the server's kind written
 * into its `tribal-source` meta, and the hashed assets it names. A dozen small files, read once
 * at start and kept in memory, so a page load touches no disk; written here rather than taken
 * from @fastify/static, which would bring send/glob for what is a map lookup.
 *
 * Every answer carries a Content-Security-Policy that allows only this origin's script and
 * style (no inline code, no other host), so a memory's text that reached the page as markup
 * could not run; the app never renders content as HTML in the first place.
 */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

/** The app's own paths (dashboard/src/main.tsx); each answers index.html. */
export const DASHBOARD_PATHS = [
  "/",
  "/login",
  "/signup",
  "/invite",
  "/memories",
  "/memories/:id",
  "/keys",
  "/members",
  "/usage",
  "/audit",
  "/billing",
  "/workspaces",
  "/sync",
  "/sessions",
] as const;

const TYPES: Record<string, string> = {
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".html": "text/html; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".woff2": "font/woff2",
  ".map": "application/json; charset=utf-8",
};

const DEFAULT_ROOT = installFile("dashboard/dist/");

export interface DashboardOptions {
  /** Which data source the page talks to: the local daemon, or the relay with accounts. */
  source: "daemon" | "relay";
  /** The built files (default: dashboard/dist of this checkout). */
  root?: string;
}

interface StaticFile {
  body: Buffer;
  type: string;
  etag: string;
}

export function registerDashboard(app: FastifyInstance, options: DashboardOptions): void {
  const root = options.root ?? DEFAULT_ROOT;
  const built = existsSync(join(root, "index.html"));
  const assets = new Map<string, StaticFile>();
  let index: StaticFile | null = null;
  if (built) {
    const html = readFileSync(join(root, "index.html"), "utf8").replace(
      '<meta name="tribal-source" content="">',
      `<meta name="tribal-source" content="${options.source}">`,
    );
    index = file(Buffer.from(html), ".html");
    const dir = join(root, "assets");
    for (const name of existsSync(dir) ? readdirSync(dir) : []) {
      assets.set(name, file(readFileSync(join(dir, name)), extname(name)));
    }
  }

  const page = async (req: FastifyRequest, reply: FastifyReply) => {
    if (!index) {
      throw new TribalError(
        "DASHBOARD_NOT_BUILT",
        "The dashboard is not built on this server: run `pnpm install` in the checkout (it builds dashboard/dist), then restart.",
      );
    }
    // Revalidated on every load: a new build names new asset files.
    return send(req, reply, index, "no-cache");
  };
  for (const path of DASHBOARD_PATHS) app.get(path, page);

  const AssetParams = z.strictObject({ name: z.string().max(200) });
  const typed = app.withTypeProvider<ZodTypeProvider>();
  typed.get("/assets/:name", { schema: { params: AssetParams } }, async (req, reply) => {
    const asset = assets.get(req.params.name);
    if (!asset) {
      throw new TribalError("ROUTE_NOT_FOUND", `No dashboard file ${req.params.name}: reload the page.`);
    }
    // Names carry their content's hash: a year, never revalidated.
    return send(req, reply, asset, "public, max-age=31536000, immutable");
  });
}

function file(body: Buffer, ext: string): StaticFile {
  return {
    body,
    type: TYPES[ext] ?? "application/octet-stream",
    etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 27)}"`,
  };
}

function send(req: FastifyRequest, reply: FastifyReply, f: StaticFile, cacheControl: string) {
  reply
    .header("content-security-policy", DASHBOARD_CSP)
    .header("x-content-type-options", "nosniff")
    .header("referrer-policy", "no-referrer")
    .header("x-frame-options", "DENY")
    .header("cache-control", cacheControl)
    .header("etag", f.etag)
    .type(f.type);
  if (req.headers["if-none-match"] === f.etag) return reply.status(304).send();
  return reply.send(f.body);
}
