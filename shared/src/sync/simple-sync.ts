import { z } from "zod";
import { extractEntities } from "../entities/extract.ts";
import { TribalError } from "../errors.ts";
import { isMemoryId, normalizeMemoryId } from "../memory/ids.ts";
import { MAX_SOURCE_INSTANCE_CHARS, MAX_TAG_CHARS, MAX_TAGS } from "../memory/size-policy.ts";
import { type Memory, SOURCE_TYPES } from "../memory/types.ts";
import type { MemoryService } from "../service/memory-service.ts";
import { MAX_SYNC_BATCH, PullBody, PushBody } from "./protocol.ts";

/**
 * The spec's simple sync form, for a client written from the spec without Automerge:
 *
 *   POST /v1/sync/push {since, memories, entities} → {results, cursor, entities_ignored}
 *   POST /v1/sync/pull {since, limit?}             → {memories, entities, purged, since, cursor, more}
 *
 * accepted on the same routes as the Automerge form (`{device, changes}` / `{cursor}`): the
 * body's keys say which (`changes` or `memories` to push, `cursor` or `since` to pull). A push
 * becomes ordinary changes through the memory service, the path of HTTP /v1/remember, so every
 * daemon syncing over Automerge receives it. The cursor is the relay's change-log seq: a pull
 * returns each memory changed after `since` once, as it is now (deleted ones with
 * `deleted: true`), with the entities its text names (derived, as every store derives them).
 *
 * Re-pushing is idempotent: a memory with an id already held is edited only where it differs
 * (and not at all when the relay's copy is as new as the pushed `updated_at`); one without an id
 * is remembered, so the same content again is a duplicate. Entities are derived from content on
 * the relay; pushed entities are validated and counted, not stored.
 */

const memoryId = z.string().refine(isMemoryId, { message: "must be a memory id (UUID)" });
const time = z.string().trim().min(1).max(64);

export const SimpleMemory = z.strictObject({
  id: memoryId.optional(),
  /** Required unless `deleted` (a deletion needs only the id). */
  content: z.string().optional(),
  tags: z.array(z.string().trim().min(1).max(MAX_TAG_CHARS)).max(MAX_TAGS).nullable().optional(),
  source_type: z.enum(SOURCE_TYPES).optional(),
  source_instance: z.string().trim().min(1).max(MAX_SOURCE_INSTANCE_CHARS).optional(),
  context: z
    .union([z.string(), z.record(z.string(), z.unknown())])
    .nullable()
    .optional(),
  confidence: z.number().min(0).max(1).optional(),
  supersedes: memoryId.nullable().optional(),
  created_at: time.optional(),
  /** The client's last change: a relay copy at least as new is left as it is. */
  updated_at: time.optional(),
  deleted: z.boolean().optional(),
  expires_at: time.nullable().optional(),
});
export type SimpleMemory = z.infer<typeof SimpleMemory>;

export const SimpleEntity = z.strictObject({
  name: z.string().trim().min(1).max(200),
  type: z.string().trim().min(1).max(50).optional(),
  aliases: z.array(z.string().trim().min(1).max(200)).max(50).optional(),
  memory_ids: z.array(memoryId).max(MAX_SYNC_BATCH).optional(),
});

/** A cursor as the spec writes it: the relay's seq; null or absent means from the start. */
const since = z.number().int().min(0).nullable().optional();

export const SimplePushBody = z.strictObject({
  since,
  memories: z.array(SimpleMemory).max(MAX_SYNC_BATCH),
  entities: z.array(SimpleEntity).max(1000).optional(),
});
export type SimplePushBody = z.infer<typeof SimplePushBody>;

export const SimplePullBody = z.strictObject({
  since,
  limit: z.number().int().min(1).max(MAX_SYNC_BATCH).default(MAX_SYNC_BATCH),
});
export type SimplePullBody = z.infer<typeof SimplePullBody>;

/**
 * One schema for a route that takes either form, chosen by `key`: each form is parsed by its
 * own schema, so an error names the field as that form's schema does (`changes.3.hash`, which
 * daemons read to dead-letter a change), not a union's "no option matched". The OpenAPI
 * document lists both forms.
 */
function eitherForm<A extends z.ZodType, B extends z.ZodType>(key: string, withKey: A, without: B) {
  const { $schema: _a, ...a } = z.toJSONSchema(withKey, { io: "input", unrepresentable: "any" });
  const { $schema: _b, ...b } = z.toJSONSchema(without, { io: "input", unrepresentable: "any" });
  return z
    .unknown()
    .transform((value, ctx): z.output<A> | z.output<B> => {
      const form = value !== null && typeof value === "object" && key in value ? withKey : without;
      const parsed = form.safeParse(value);
      if (parsed.success) return parsed.data;
      for (const issue of parsed.error.issues) ctx.addIssue({ ...issue } as z.core.$ZodRawIssue);
      return z.NEVER;
    })
    .meta({ anyOf: [a, b] });
}

export const SyncPushRequest = eitherForm("changes", PushBody, SimplePushBody);
export const SyncPullRequest = eitherForm("cursor", PullBody, SimplePullBody);

export const isSimplePush = (b: PushBody | SimplePushBody): b is SimplePushBody => "memories" in b;
export const isSimplePull = (b: PullBody | SimplePullBody): b is SimplePullBody => !("cursor" in b);

export type SimplePushStatus = "created" | "duplicate" | "updated" | "deleted" | "unchanged";
export interface SimplePushResult {
  /** The memory's id (the relay's, for a memory pushed without one). */
  id: string;
  status: SimplePushStatus;
  duplicate_of?: string;
}

/** The entities the memories' text names (as the stores extract them), with the memories naming each. */
export interface SimpleEntityOut {
  name: string;
  type: string;
  memory_ids: string[];
}

const invalid = (path: string, message: string) =>
  new TribalError("VALIDATION_FAILED", `Invalid body: ${path}: ${message}`, { issues: [{ path, message }] });

function timeOf(value: string | null | undefined, path: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  const ms = Date.parse(value);
  if (!Number.isFinite(ms)) throw invalid(path, "is not a time (ISO 8601)");
  return new Date(ms).toISOString();
}

interface Checked {
  m: SimpleMemory;
  id: string | null;
  content: string | null;
  createdAt: string | undefined;
  updatedAt: string | undefined;
  expiresAt: string | undefined;
}

/** Every memory checked before any is written, so a bad one refuses the push and writes nothing. */
function check(service: MemoryService, memories: SimpleMemory[]): Checked[] {
  return memories.map((m, i) => {
    const at = `memories.${i}`;
    if (m.content === undefined && !m.deleted)
      throw invalid(`${at}.content`, "is required unless deleted is true");
    if (!m.id && m.deleted) throw invalid(`${at}.id`, "a deletion names the memory's id");
    const content =
      m.content === undefined
        ? null
        : service.checkContent(service.redactSecrets(m.content).text, `${at}.content`);
    return {
      m,
      id: m.id ? normalizeMemoryId(m.id) : null,
      content,
      createdAt: timeOf(m.created_at, `${at}.created_at`),
      updatedAt: timeOf(m.updated_at, `${at}.updated_at`),
      expiresAt: timeOf(m.expires_at, `${at}.expires_at`),
    };
  });
}

/** Apply a simple push as ordinary writes of the memory service, in order. */
export async function applySimplePush(
  service: MemoryService,
  body: SimplePushBody,
): Promise<SimplePushResult[]> {
  const results: SimplePushResult[] = [];
  for (const c of check(service, body.memories)) results.push(await applyOne(service, c));
  return results;
}

async function applyOne(service: MemoryService, c: Checked): Promise<SimplePushResult> {
  const { m } = c;
  if (c.id === null) {
    const o = await service.remember({
      content: c.content as string,
      source_type: m.source_type ?? "cross_instance",
      source_instance: m.source_instance,
      tags: m.tags,
      context: m.context,
      confidence: m.confidence,
      supersedes: m.supersedes,
      expires_at: c.expiresAt,
    });
    return o.duplicateOf
      ? { id: o.memory.id, status: "duplicate", duplicate_of: o.duplicateOf }
      : { id: o.memory.id, status: "created" };
  }
  const existing = await service.store.get(c.id);
  if (!existing) {
    const created = c.createdAt ?? new Date().toISOString();
    const memory: Memory = {
      id: c.id,
      content: c.content ?? "",
      source_type: m.source_type ?? "cross_instance",
      source_instance: m.source_instance ?? service.instanceId,
      tags: [...new Set(m.tags ?? [])].sort(),
      context: m.context ?? null,
      confidence: m.confidence ?? 1,
      supersedes: m.supersedes ?? null,
      duplicate_of: null,
      created_at: created,
      updated_at: c.updatedAt ?? created,
      deleted: m.deleted ?? false,
      ...(c.expiresAt ? { expires_at: c.expiresAt } : {}),
    };
    await service.insertExact([{ memory }]);
    return { id: c.id, status: "created" };
  }
  if (c.updatedAt && Date.parse(c.updatedAt) <= Date.parse(existing.updated_at)) {
    return { id: c.id, status: "unchanged" };
  }
  const after = await service.edit(c.id, {
    ...(c.content !== null ? { content: c.content } : {}),
    ...(m.tags != null
      ? { addTags: m.tags, removeTags: existing.tags.filter((t) => !(m.tags ?? []).includes(t)) }
      : {}),
    ...(m.context !== undefined ? { context: m.context } : {}),
    ...(m.confidence !== undefined ? { confidence: m.confidence } : {}),
    ...(m.supersedes !== undefined ? { supersedes: m.supersedes } : {}),
    ...(m.deleted !== undefined ? { deleted: m.deleted } : {}),
    ...(m.expires_at !== undefined ? { expires_at: c.expiresAt ?? null } : {}),
    ...(c.updatedAt ? { updated_at: c.updatedAt } : {}),
  });
  if (after.updated_at === existing.updated_at) return { id: c.id, status: "unchanged" };
  return { id: c.id, status: after.deleted && !existing.deleted ? "deleted" : "updated" };
}

/** The entities named by the live memories among `memories`, by name. */
export function simpleEntitiesOf(memories: Memory[]): SimpleEntityOut[] {
  const byName = new Map<string, SimpleEntityOut>();
  for (const m of memories) {
    if (m.deleted || m.duplicate_of) continue;
    for (const e of extractEntities(m.content)) {
      let out = byName.get(e.name);
      if (!out) {
        out = { name: e.name, type: e.type, memory_ids: [] };
        byName.set(e.name, out);
      }
      out.memory_ids.push(m.id);
    }
  }
  return [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
}
