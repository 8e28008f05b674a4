import type { FastifyInstance, FastifyRequest } from "fastify";
import { z } from "zod";
import { extractEntities, foldName } from "../entities/extract.ts";
import { TribalError } from "../errors.ts";
import type { MemoryService } from "../service/memory-service.ts";
import type { EntityEdge, MemoryStore } from "../store/memory-store.ts";
import { requireScope, type ZodTypeProvider } from "./route-schemas.ts";

export interface EntityRoutesOptions {
  serviceFor: (req: FastifyRequest) => MemoryService | Promise<MemoryService>;
  authorize?: (req: FastifyRequest, scope: "read" | "write" | "admin") => void | Promise<void>;
}

const EntitiesQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  prefix: z.string().max(200).optional(),
  type: z.string().max(40).optional(),
});
const EntityParams = z.strictObject({ name: z.string().min(1).max(500) });
const EntityMemoriesQuery = z.strictObject({
  hops: z.coerce.number().int().min(1).max(10).default(1),
  limit: z.coerce.number().int().min(1).max(100).default(10),
});
const GraphQuery = z.strictObject({
  entity: z.string().min(1).max(500),
  hops: z.coerce.number().int().min(1).max(5).default(2),
});

/** Neighbours kept per entity and hop: a graph of the strongest links, not every co-mention. */
const NEIGHBOURS_PER_ENTITY = 10;

type EntityStore = MemoryStore &
  Required<Pick<MemoryStore, "entitySearch" | "listEntities" | "resolveEntities" | "entityNeighbours">>;

function entityStore(store: MemoryStore): EntityStore {
  if (!store.entitySearch || !store.listEntities || !store.resolveEntities || !store.entityNeighbours) {
    throw new TribalError("ROUTE_NOT_FOUND", "This server keeps no entity index; use /v1/recall.");
  }
  return store as EntityStore;
}

/** The names a path segment may mean: itself case-folded, and what extraction makes of it. */
function namesFor(raw: string): string[] {
  const names = new Set([foldName(raw)]);
  for (const e of extractEntities(raw)) names.add(e.name);
  return [...names];
}

/** Breadth-first over co-occurrence, `hops` deep; each level keeps its strongest links. */
async function walk(
  store: EntityStore,
  start: string[],
  hops: number,
): Promise<{ edges: EntityEdge[]; depth: Map<string, number> }> {
  const depth = new Map<string, number>(start.map((n) => [n, 0]));
  const edges: EntityEdge[] = [];
  let frontier = start;
  for (let h = 1; h <= hops && frontier.length; h++) {
    const next: string[] = [];
    for (const e of await store.entityNeighbours(frontier, NEIGHBOURS_PER_ENTITY)) {
      edges.push(e);
      if (!depth.has(e.target)) {
        depth.set(e.target, h);
        next.push(e.target);
      }
    }
    frontier = next;
  }
  return { edges, depth };
}

/** `GET /v1/entities`, `GET /v1/entities/:name/memories`, `GET /v1/graph` over the store's entity index. */
export function registerEntityRoutes(fastify: FastifyInstance, options: EntityRoutesOptions): void {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const read = async (req: FastifyRequest) => entityStore((await options.serviceFor(req)).store);
  const readScope = requireScope(options.authorize, "read");

  app.get("/v1/entities", { schema: { querystring: EntitiesQuery }, ...readScope }, async (req) => {
    const store = await read(req);
    const q = req.query;
    const entities = await store.listEntities({
      limit: q.limit,
      prefix: q.prefix ? foldName(q.prefix) : undefined,
      type: q.type,
    });
    return { entities, count: entities.length };
  });

  const memoriesSchema = { params: EntityParams, querystring: EntityMemoriesQuery };
  app.get("/v1/entities/:name/memories", { schema: memoriesSchema, ...readScope }, async (req) => {
    const store = await read(req);
    const { name } = req.params;
    const q = req.query;
    const resolved = await store.resolveEntities(namesFor(name));
    if (!resolved.length) {
      throw new TribalError(
        "ENTITY_NOT_FOUND",
        `No memory names "${name}"; GET /v1/entities lists known names.`,
      );
    }
    const start = resolved.map((e) => e.name);
    const { depth } =
      q.hops > 1 ? await walk(store, start, q.hops - 1) : { depth: new Map(start.map((n) => [n, 0])) };
    // Memories naming the entity itself first, then those of its neighbours, hop by hop.
    const seen = new Set<string>();
    const ranked: { id: string; score: number; hop: number; via: string[] }[] = [];
    for (let h = 0; h < q.hops && ranked.length < q.limit; h++) {
      const names = [...depth].filter(([, d]) => d === h).map(([n]) => n);
      if (!names.length) break;
      for (const hit of await store.entitySearch(names, q.limit, {})) {
        if (seen.has(hit.id)) continue;
        seen.add(hit.id);
        ranked.push({ id: hit.id, score: hit.score / (h + 1), hop: h + 1, via: hit.matched });
        if (ranked.length >= q.limit) break;
      }
    }
    const memories = new Map((await store.getMany(ranked.map((r) => r.id))).map((m) => [m.id, m]));
    const results = ranked.flatMap((r) => {
      const memory = memories.get(r.id);
      return memory
        ? [{ memory, similarity_score: Math.round(r.score * 10000) / 10000, hop: r.hop, via: r.via }]
        : [];
    });
    return { entity: start[0], entities: resolved, hops: q.hops, results, count: results.length };
  });

  app.get("/v1/graph", { schema: { querystring: GraphQuery }, ...readScope }, async (req) => {
    const store = await read(req);
    const q = req.query;
    const resolved = await store.resolveEntities(namesFor(q.entity));
    if (!resolved.length) {
      throw new TribalError(
        "ENTITY_NOT_FOUND",
        `No memory names "${q.entity}"; GET /v1/entities lists known names.`,
      );
    }
    const { edges, depth } = await walk(
      store,
      resolved.map((e) => e.name),
      q.hops,
    );
    const types = new Map(
      (await store.resolveEntities([...depth.keys()])).map((e) => [e.name, e.type] as const),
    );
    return {
      entity: resolved[0].name,
      hops: q.hops,
      entities: [...depth].map(([name, hop]) => ({ name, type: types.get(name) ?? "name", hop })),
      relationships: edges,
    };
  });
}
