import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { z } from "zod";
import { entityMention, malformed, type PeerImport, type PeerMemory, relationWords } from "./peer-memory.ts";

/**
 * The MCP reference memory server's knowledge graph (`@modelcontextprotocol/server-memory`,
 * `memory.jsonl`): one JSON object a line, `{"type":"entity","name","entityType","observations"}`
 * or `{"type":"relation","from","to","relationType"}`. Each observation becomes a memory
 * ("John Smith: Speaks fluent Spanish") about its entity, tagged with the entity type; each
 * relation becomes a memory ("John Smith works at Anthropic") about both entities; an entity
 * without observations becomes one memory naming it ("Lisbon (place)").
 *
 * The server itself skips lines it cannot read; an import refuses the file instead (with the
 * line), so nothing is silently lost.
 */
export const MCP_MEMORY_FORMAT = "mcp-memory";

const Entity = z.object({
  type: z.literal("entity"),
  name: z.string().trim().min(1),
  entityType: z.string(),
  observations: z.array(z.string()),
});
const Relation = z.object({
  type: z.literal("relation"),
  from: z.string().trim().min(1),
  to: z.string().trim().min(1),
  relationType: z.string().trim().min(1),
});
const Line = z.discriminatedUnion("type", [Entity, Relation]);

export function readMcpMemory(path: string): PeerImport {
  const file = basename(path);
  const memories: PeerMemory[] = [];
  const lines = readFileSync(path, "utf8")
    .replace(/^\uFEFF/, "")
    .split("\n");
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i].trim();
    if (!text) continue;
    const line = i + 1;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw malformed(`${file}:${line}`, `not JSON (${(err as Error).message})`, MCP_MEMORY_FORMAT, line);
    }
    const parsed = Line.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const field = issue.path.join(".") || "line";
      throw malformed(
        `${file}:${line}`,
        `${field}: ${issue.message} (an entity needs name, entityType, observations; a relation from, to, relationType)`,
        MCP_MEMORY_FORMAT,
        line,
      );
    }
    const origin = `${file}:${line}`;
    const item = parsed.data;
    if (item.type === "entity") {
      const who = entityMention(item.name);
      const facts = item.observations.map((o) => o.trim()).filter(Boolean);
      // An entity without observations still names something: keep it as "who (type)".
      if (!facts.length) {
        memories.push({
          kind: "entity",
          key: `entity\u0000${item.name}`,
          content: item.entityType.trim() ? `${who} (${item.entityType.trim()})` : who,
          tags: item.entityType.trim() ? [item.entityType] : [],
          entities: [item.name],
          origin,
          source: { entity_type: item.entityType },
        });
      }
      for (const fact of facts) {
        memories.push({
          kind: "observation",
          key: `entity\u0000${item.name}\u0000${fact}`,
          content: `${who}: ${fact}`,
          tags: item.entityType.trim() ? [item.entityType] : [],
          entities: [item.name],
          origin,
          source: { entity_type: item.entityType },
        });
      }
    } else {
      memories.push({
        kind: "relation",
        key: `relation\u0000${item.from}\u0000${item.relationType}\u0000${item.to}`,
        content: `${entityMention(item.from)} ${relationWords(item.relationType)} ${entityMention(item.to)}`,
        tags: ["relation", item.relationType],
        entities: [item.from, item.to],
        origin,
        source: { relation_type: item.relationType },
      });
    }
  }
  return { memories };
}
