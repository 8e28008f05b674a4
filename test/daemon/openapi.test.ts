/**
 * `GET /v1/openapi.json` on a real daemon and a real relay: a valid OpenAPI 3 document that lists
 * every /v1 route the server answers, with the schemas the routes validate with.
 */
import { Validator } from "@seriousme/openapi-schema-validator";
import {
  CorrectResponse,
  ForgetResponse,
  ListResponse,
  MemoryJson,
  RecallResponse,
  StoreResponse,
} from "@tribalmemory/shared/http/response-schemas";
import {
  createApiKey,
  createWorkspace,
  type RelayDatabase,
  type RunningRelay,
} from "@tribalmemory/sync-server";
import { api, openTestDatabase, startTestRelay } from "@tribalmemory/sync-server/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestDaemon, tempHome } from "../helpers/daemon.ts";

interface OpenApiDocument {
  openapi: string;
  paths: Record<
    string,
    Record<string, { parameters?: { name: string; in: string }[]; requestBody?: unknown }>
  >;
}

/** "METHOD /path" for every /v1 route in Fastify's own route tree (HEAD twins left out). */
function routesOf(app: RunningRelay["app"]): string[] {
  const routes: string[] = [];
  const stack: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split("\n")) {
    const at = line.indexOf("── ");
    if (at < 0) continue;
    const depth = Math.round(at / 4);
    const match = /^(.*?)(?: \(([A-Z, ]+)\))?$/.exec(line.slice(at + 3).trim());
    if (!match) continue;
    stack.length = depth;
    stack[depth] = match[1];
    const path = stack.join("");
    for (const method of match[2]?.split(", ") ?? []) {
      if (method !== "HEAD" && path.startsWith("/v1/")) routes.push(`${method} ${path}`);
    }
  }
  return routes.sort();
}

function routesIn(doc: OpenApiDocument): string[] {
  return Object.entries(doc.paths)
    .flatMap(([path, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${path.replace(/\{([^}]+)\}/g, ":$1")}`),
    )
    .sort();
}

async function expectValidOpenApi(doc: OpenApiDocument): Promise<void> {
  const result = await new Validator().validate(doc as unknown as Parameters<Validator["validate"]>[0]);
  expect(result.errors ?? []).toEqual([]);
  expect(result.valid).toBe(true);
  expect(doc.openapi).toBe("3.1.0");
}

describe("the daemon's OpenAPI document", () => {
  const { home, cleanup } = tempHome("tm-openapi-");
  let daemon: Awaited<ReturnType<typeof startTestDaemon>>;
  beforeAll(async () => {
    daemon = await startTestDaemon(home);
  });
  afterAll(async () => {
    await daemon?.close();
    cleanup();
  });

  it("is valid OpenAPI 3.1 and lists every /v1 route the daemon registered", async () => {
    const res = await daemon.api.get("/v1/openapi.json");
    expect(res.status).toBe(200);
    const doc = res.body as OpenApiDocument;
    await expectValidOpenApi(doc);
    const registered = routesOf(daemon.app);
    expect(registered.length).toBeGreaterThan(20);
    expect(routesIn(doc)).toEqual(registered);
  });

  it("documents each route with the schema it validates: body, query and path parameters", async () => {
    const doc = (await daemon.api.get("/v1/openapi.json")).body as OpenApiDocument;
    const remember = doc.paths["/v1/remember"].post.requestBody as {
      content: {
        "application/json": {
          schema: { properties: Record<string, unknown>; additionalProperties: boolean };
        };
      };
    };
    const schema = remember.content["application/json"].schema;
    expect(Object.keys(schema.properties)).toContain("content");
    expect(schema.additionalProperties).toBe(false);
    expect(doc.paths["/v1/memories/{id}"].get.parameters).toEqual([
      expect.objectContaining({ name: "id", in: "path", required: true }),
    ]);
    const recallQuery = (doc.paths["/v1/recall"].get.parameters ?? []).map((p) => `${p.in}:${p.name}`);
    expect(recallQuery).toContain("query:query");
    expect(recallQuery).toContain("query:limit");
  });
});

describe("the response schemas the document publishes", () => {
  const { home, cleanup } = tempHome("tm-openapi-answers-");
  let daemon: Awaited<ReturnType<typeof startTestDaemon>>;
  beforeAll(async () => {
    daemon = await startTestDaemon(home);
  });
  afterAll(async () => {
    await daemon?.close();
    cleanup();
  });

  it("are in the document for the memory routes, by status", async () => {
    const doc = (await daemon.api.get("/v1/openapi.json")).body as {
      paths: Record<string, Record<string, { responses: Record<string, { content?: unknown }> }>>;
    };
    expect(Object.keys(doc.paths["/v1/remember"].post.responses).sort()).toEqual([
      "200",
      "201",
      "4XX",
      "5XX",
    ]);
    const recall = doc.paths["/v1/recall"].post.responses["200"].content as {
      "application/json": { schema: { required: string[] } };
    };
    expect(recall["application/json"].schema.required).toEqual(
      expect.arrayContaining(["results", "query", "total_time_ms"]),
    );
    // A route without a declared answer still says what success is.
    expect(Object.keys(doc.paths["/v1/stats"].get.responses)).toContain("2XX");
  });

  it("parse the daemon's real answers (remember, recall, correct, get, list, forget)", async () => {
    const created = await daemon.api.post("/v1/remember", {
      content: "The staging cluster runs Postgres 16",
      tags: ["infra"],
    });
    expect(created.status).toBe(201);
    const stored = StoreResponse.parse(created.body);
    const again = await daemon.api.post("/v1/remember", { content: "The staging cluster runs Postgres 16" });
    expect(StoreResponse.parse(again.body).duplicate_of).toBe(stored.memory_id);
    const recall = RecallResponse.parse(
      (await daemon.api.post("/v1/recall", { query: "staging postgres", sources: "all" })).body,
    );
    expect(recall.results[0].memory?.id).toBe(stored.memory_id);
    const corrected = await daemon.api.post("/v1/correct", {
      original_id: stored.memory_id,
      corrected_content: "The staging cluster runs Postgres 17",
    });
    expect(CorrectResponse.parse(corrected.body).supersedes).toBe(stored.memory_id);
    expect(MemoryJson.parse((await daemon.api.get(`/v1/memories/${stored.memory_id}`)).body).id).toBe(
      stored.memory_id,
    );
    const listed = ListResponse.parse((await daemon.api.get("/v1/memories?limit=5")).body).memories;
    expect(listed.map((m) => m.id).sort()).toEqual(
      [stored.memory_id, CorrectResponse.parse(corrected.body).memory_id].sort(),
    );
    const forgotten = await daemon.api.post("/v1/forget", { memory_id: stored.memory_id });
    expect(ForgetResponse.parse(forgotten.body)).toEqual({
      success: true,
      memory_id: stored.memory_id,
      deleted: true,
    });
  });
});

describe("the relay's OpenAPI document", () => {
  let db: RelayDatabase;
  let relay: RunningRelay;
  let key: string;
  beforeAll(async () => {
    db = await openTestDatabase();
    relay = await startTestRelay(db);
    const ws = await createWorkspace(db, { name: "openapi" });
    key = (await createApiKey(db, ws.workspaceId, { name: "docs", scopes: ["read"] })).key;
  }, 60_000);
  afterAll(async () => {
    await relay?.close();
    await db?.close();
  });

  it("asks for an API key like every other /v1 route", async () => {
    const res = await api(relay.url, "GET", "/v1/openapi.json");
    expect(res.status).toBe(401);
  });

  it("lists the sync WebSocket's route, which answers a plain GET with a coded 404", async () => {
    const res = await api<{ error: { code: string } }>(relay.url, "GET", "/v1/sync", undefined, key);
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe("ROUTE_NOT_FOUND");
  });

  it("is valid OpenAPI 3.1 and lists every /v1 route the relay registered, keys and sync included", async () => {
    const res = await api<OpenApiDocument>(relay.url, "GET", "/v1/openapi.json", undefined, key);
    expect(res.status).toBe(200);
    await expectValidOpenApi(res.body);
    const registered = routesOf(relay.app);
    expect(registered).toContain("POST /v1/sync/push");
    expect(registered).toContain("POST /v1/auth/keys");
    expect(registered).toContain("GET /v1/sync");
    expect(routesIn(res.body)).toEqual(registered);
  });
});
