import { contentHash, dedupKey } from "@tribalmemory/shared/memory/content";
import { expiresMs } from "@tribalmemory/shared/memory/expiry";
import type { Memory, StoredEmbedding } from "@tribalmemory/shared/memory/types";
import { isHidden } from "@tribalmemory/shared/store/memory-rows";
import { encodeBytes } from "@tribalmemory/shared/sync/protocol";
import type { Sql } from "./database.ts";
import { vectorText } from "./pg-vectors.ts";

/** A memory as ingest materialised it: the row, its saved document and the vector that fits it. */
export interface MaterialisedRow {
  memory: Memory;
  doc: Uint8Array;
  embedding: StoredEmbedding | null;
}

/** The columns of a memory's vector: replaced, kept or dropped together. */
const VECTOR_COLUMNS = ["embedding", "embedding_model", "embedding_hash", "embedding_dims"];

/** On conflict: a new vector wins; an unchanged content keeps its vector; a hidden memory or new content drops it. */
function keptVectorColumn(column: string): string {
  return `${column} = CASE WHEN EXCLUDED.deleted OR EXCLUDED.duplicate_of IS NOT NULL THEN NULL
         WHEN EXCLUDED.embedding IS NOT NULL THEN EXCLUDED.${column}
         WHEN m.content_hash = EXCLUDED.content_hash THEN m.${column} ELSE NULL END`;
}

/**
 * Insert or update the materialised rows in one statement. A new vector wins; an unchanged
 * content keeps its vector; a hidden memory or new content drops it.
 */
export async function upsertMemoryRows(
  sql: Sql,
  workspaceId: string,
  rows: MaterialisedRow[],
): Promise<void> {
  if (!rows.length) return;
  const col = <T>(f: (r: (typeof rows)[number]) => T) => rows.map(f);
  await sql.query(
    `INSERT INTO memories AS m (workspace_id, id, content, content_hash, dedup_key, source_type, source_instance, tags, tags_text,
       context, confidence, supersedes, duplicate_of, created_at, updated_at, created_ms, deleted, doc,
       embedding, embedding_model, embedding_hash, embedding_dims, expires_ms, project)
     SELECT $1, id, content, ch, dk, st, si,
       CASE WHEN tg = '' THEN '{}'::text[] ELSE string_to_array(tg, E'\\x1f') END, replace(tg, E'\\x1f', ' '),
       ctx, conf, sup, dup, ca, ua, cms, del, decode(doc, 'base64'), emb::vector, em, eh, ed, ex, pj
     FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
       $10::float8[], $11::text[], $12::text[], $13::text[], $14::text[], $15::bigint[], $16::bool[], $17::text[],
       $18::text[], $19::text[], $20::text[], $21::int[], $22::bigint[], $23::text[])
       AS t(id, content, ch, dk, st, si, tg, ctx, conf, sup, dup, ca, ua, cms, del, doc, emb, em, eh, ed, ex, pj)
     ON CONFLICT (workspace_id, id) DO UPDATE SET
       content = EXCLUDED.content, dedup_key = EXCLUDED.dedup_key, source_type = EXCLUDED.source_type,
       source_instance = EXCLUDED.source_instance, tags = EXCLUDED.tags, tags_text = EXCLUDED.tags_text,
       context = EXCLUDED.context, confidence = EXCLUDED.confidence, supersedes = EXCLUDED.supersedes,
       duplicate_of = EXCLUDED.duplicate_of, created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at,
       created_ms = EXCLUDED.created_ms, deleted = EXCLUDED.deleted, doc = EXCLUDED.doc,
       expires_ms = EXCLUDED.expires_ms, project = EXCLUDED.project,
       -- A new vector wins; an unchanged content keeps its vector; a hidden memory or new content drops it.
       ${VECTOR_COLUMNS.map(keptVectorColumn).join(",\n       ")},
       content_hash = EXCLUDED.content_hash`,
    [
      workspaceId,
      col((r) => r.memory.id),
      col((r) => r.memory.content),
      col((r) => contentHash(r.memory.content)),
      col((r) => dedupKey(r.memory.content)),
      col((r) => r.memory.source_type),
      col((r) => r.memory.source_instance),
      col((r) => r.memory.tags.join("\u001f")),
      col((r) => (r.memory.context === null ? null : JSON.stringify(r.memory.context))),
      col((r) => r.memory.confidence),
      col((r) => r.memory.supersedes),
      col((r) => r.memory.duplicate_of),
      col((r) => r.memory.created_at),
      col((r) => r.memory.updated_at),
      col((r) => Date.parse(r.memory.created_at) || 0),
      col((r) => r.memory.deleted),
      col((r) => encodeBytes(r.doc)),
      col((r) => (r.embedding && !isHidden(r.memory) ? vectorText(r.embedding.vector) : null)),
      col((r) => (r.embedding && !isHidden(r.memory) ? r.embedding.modelId : null)),
      col((r) => (r.embedding && !isHidden(r.memory) ? r.embedding.contentHash : null)),
      col((r) => (r.embedding && !isHidden(r.memory) ? r.embedding.vector.length : null)),
      col((r) => expiresMs(r.memory)),
      col((r) => r.memory.project ?? null),
    ],
  );
}
