import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { z } from "zod";
import {
  entityMention,
  entryLine,
  isoTime,
  malformed,
  type PeerImport,
  type PeerMemory,
  parseEntry,
  parseJsonFile,
  relationWords,
} from "./peer-memory.ts";

/**
 * mem0's memories as `get_all` (and its export) returns them: `{"results": [...]}` (with
 * `"relations": [...]` when graph memory is on) or a bare array, each memory `{id, memory,
 * user_id, agent_id, run_id, metadata, categories, hash, created_at, updated_at}`. Each memory
 * keeps its text and its created_at/updated_at; categories, user and agent become tags; the
 * rest goes to `context.mem0`. Graph relations `{source, relationship, target}` become
 * memories about both entities.
 */
export const MEM0_FORMAT = "mem0";

const id = z.union([z.string(), z.number()]).nullish();
const Mem0Memory = z.object({
  id,
  memory: z.string().trim().min(1),
  user_id: z.string().nullish(),
  agent_id: z.string().nullish(),
  run_id: z.string().nullish(),
  app_id: z.string().nullish(),
  hash: z.string().nullish(),
  metadata: z.record(z.string(), z.unknown()).nullish(),
  categories: z.array(z.string()).nullish(),
  created_at: z.string().nullish(),
  updated_at: z.string().nullish(),
});
const Mem0Relation = z.object({
  source: z.string().trim().min(1),
  relationship: z.string().trim().min(1),
  target: z.string().trim().min(1),
});
const Mem0File = z.union([
  z.array(z.unknown()),
  z.object({ results: z.array(z.unknown()), relations: z.array(z.unknown()).nullish() }),
  z.object({ memories: z.array(z.unknown()) }),
]);

export function readMem0(path: string): PeerImport {
  const file = basename(path);
  const text = readFileSync(path, "utf8");
  const shape = Mem0File.safeParse(parseJsonFile(text, file, MEM0_FORMAT));
  if (!shape.success) {
    throw malformed(
      `${file}:1`,
      'expected mem0\'s get_all output: {"results": [...]} or an array of memories',
      MEM0_FORMAT,
      1,
    );
  }
  const data = shape.data;
  const entries = Array.isArray(data) ? data : "results" in data ? data.results : data.memories;
  const relations = !Array.isArray(data) && "relations" in data ? (data.relations ?? []) : [];
  const memories: PeerMemory[] = [];
  entries.forEach((entry, i) => {
    const line = entryLine(text, entry);
    const m = parseEntry(Mem0Memory, entry, { file, line, entry: `memory ${i + 1}`, format: MEM0_FORMAT });
    const sourceId = m.id === null || m.id === undefined ? null : String(m.id);
    memories.push({
      kind: "memory",
      key: sourceId ?? `content\u0000${m.memory}`,
      content: m.memory.trim(),
      tags: [
        ...(m.categories ?? []),
        ...(m.user_id ? [`user:${m.user_id}`] : []),
        ...(m.agent_id ? [`agent:${m.agent_id}`] : []),
      ],
      entities: [],
      origin: `${file}:${line}`,
      createdAt: isoTime(m.created_at),
      updatedAt: isoTime(m.updated_at),
      source: {
        mem0: Object.fromEntries(
          Object.entries({
            id: sourceId,
            user_id: m.user_id,
            agent_id: m.agent_id,
            run_id: m.run_id,
            app_id: m.app_id,
            hash: m.hash,
            metadata: m.metadata,
          }).filter(([, v]) => v !== null && v !== undefined),
        ),
      },
    });
  });
  relations.forEach((entry, i) => {
    const parsed = Mem0Relation.safeParse(entry);
    if (!parsed.success) {
      throw malformed(
        `${file}: relation ${i + 1}`,
        "a relation needs source, relationship and target",
        MEM0_FORMAT,
      );
    }
    const r = parsed.data;
    memories.push({
      kind: "relation",
      key: `relation\u0000${r.source}\u0000${r.relationship}\u0000${r.target}`,
      content: `${entityMention(r.source)} ${relationWords(r.relationship)} ${entityMention(r.target)}`,
      tags: ["relation", r.relationship],
      entities: [r.source, r.target],
      origin: `${file}: relation ${i + 1}`,
    });
  });
  return { memories };
}
