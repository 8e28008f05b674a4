import { Readable } from "node:stream";
import { requireScope, type ZodTypeProvider } from "@tribalmemory/shared/http/route-schemas";
import type { FastifyPluginAsync, FastifyReply } from "fastify";
import { z } from "zod";
import { type AuditFilters, type AuditRow, listAuditRows, streamAuditRows } from "../store/pg-audit.ts";
import type { RelayRouteContext } from "./relay-route-context.ts";
import { recordRequest } from "./request-record.ts";

/** Rows per page at most: a page is one indexed range read. */
export const MAX_AUDIT_PAGE = 500;

const CURSOR_TAG = "audit:";

/** The opaque cursor of a page: the id below which the next page starts. */
export function encodeAuditCursor(id: number): string {
  return Buffer.from(`${CURSOR_TAG}${id}`, "utf8").toString("base64url");
}

const AuditCursor = z
  .string()
  .max(64)
  .transform((s, ctx) => {
    const text = Buffer.from(s, "base64url").toString("utf8");
    const id = text.startsWith(CURSOR_TAG) ? Number(text.slice(CURSOR_TAG.length)) : Number.NaN;
    if (!Number.isSafeInteger(id) || id < 1) {
      ctx.addIssue({ code: "custom", message: "not a cursor this relay issued; start without it" });
      return z.NEVER;
    }
    return id;
  });

const instant = z.iso.datetime({ offset: true }).transform((s) => new Date(s));

const AuditQuery = z.strictObject({
  /** Exact action, or a prefix ending in `.` or `*` (`key.` → key.create, key.revoke). */
  action: z
    .string()
    .trim()
    .min(1)
    .max(200)
    .regex(/^[^*]*\*?$/, "only a trailing * is a wildcard")
    .optional(),
  key_id: z.string().uuid().optional(),
  user_id: z.string().uuid().optional(),
  device_id: z.string().trim().min(1).max(200).optional(),
  since: instant.optional(),
  until: instant.optional(),
  limit: z.coerce.number().int().min(1).max(MAX_AUDIT_PAGE).default(100),
  cursor: AuditCursor.optional(),
  /** jsonl: every matching row as a JSON line (as `GET /v1/audit/export`), not a page. */
  format: z.enum(["json", "jsonl"]).default("json"),
});
type AuditQuery = z.output<typeof AuditQuery>;

const ExportQuery = AuditQuery.omit({ limit: true, cursor: true, format: true });

function filtersOf(q: Omit<AuditQuery, "limit" | "cursor" | "format">): AuditFilters {
  return {
    action: q.action,
    keyId: q.key_id,
    userId: q.user_id,
    deviceId: q.device_id,
    since: q.since,
    until: q.until,
  };
}

/** The filters as the request gave them, for the export's own audit row. */
function filterDetails(f: AuditFilters): Record<string, unknown> {
  return {
    action: f.action,
    key_id: f.keyId,
    user_id: f.userId,
    device_id: f.deviceId,
    since: f.since?.toISOString(),
    until: f.until?.toISOString(),
  };
}

/** Rows as JSON lines, read a page at a time and sent as the client takes them. */
export function sendJsonl(reply: FastifyReply, rows: AsyncIterable<unknown>): FastifyReply {
  async function* lines() {
    for await (const row of rows) yield `${JSON.stringify(row)}\n`;
  }
  reply.header("content-type", "application/x-ndjson; charset=utf-8");
  return reply.send(Readable.from(lines()));
}

/**
 * `GET /v1/audit` (admin): the workspace's audit log, newest first, a page at a time with an
 * opaque cursor; `GET /v1/audit/export` (or `?format=jsonl`): every matching row as JSON lines,
 * streamed. Reading the log in bulk is itself audited (`audit.export`).
 */
export const auditRoutes: FastifyPluginAsync<RelayRouteContext> = async (fastify, options) => {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const { db, authOf } = options;
  const admin = requireScope(options.authorize, "admin");

  const exportRows = async (req: Parameters<typeof authOf>[0], reply: FastifyReply, f: AuditFilters) => {
    const auth = authOf(req);
    await recordRequest(
      db,
      auth,
      { action: "audit.export", target: null, details: { filters: filterDetails(f) } },
      null,
    );
    return sendJsonl(reply, streamAuditRows(db, auth.workspaceId, f));
  };

  app.get("/v1/audit", { schema: { querystring: AuditQuery }, ...admin }, async (req, reply) => {
    const q = req.query;
    const filters = filtersOf(q);
    if (q.format === "jsonl") return exportRows(req, reply, filters);
    // One row more than the page: whether another page exists, without a count.
    const rows: AuditRow[] = await listAuditRows(db, authOf(req).workspaceId, filters, {
      limit: q.limit + 1,
      beforeId: q.cursor ?? null,
    });
    const entries = rows.slice(0, q.limit);
    const more = rows.length > q.limit;
    return { entries, next_cursor: more ? encodeAuditCursor(entries[entries.length - 1].id) : null };
  });

  app.get("/v1/audit/export", { schema: { querystring: ExportQuery }, ...admin }, (req, reply) =>
    exportRows(req, reply, filtersOf(req.query)),
  );
};
