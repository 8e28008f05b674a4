import type { FastifyInstance, RouteOptions } from "fastify";
import { z } from "zod";

/**
 * `GET /v1/openapi.json`: the OpenAPI 3.1 document of the /v1 API, built from the route table
 * (an onRoute hook) and the zod schemas each route declares — the ones that validate its
 * requests — so the document cannot drift from what the server accepts. Install before any
 * route is declared; HEAD twins of GET routes are left out.
 */
export function installOpenApi(app: FastifyInstance, info = API_INFO): void {
  const routes: RouteOptions[] = [];
  app.addHook("onRoute", (route) => {
    if (route.url.startsWith("/v1/") && methodsOf(route).some((m) => m !== "HEAD")) routes.push(route);
  });
  let document: object | undefined;
  app.get("/v1/openapi.json", async () => {
    document ??= openApiDocument(routes, info);
    return document;
  });
}

/** The version of the API the document describes (the /v1 contract), not of a server build. */
const API_INFO = { title: "TribalMemory /v1 API", version: "1" };

type JsonSchema = Record<string, unknown> & {
  properties?: Record<string, JsonSchema>;
  required?: string[];
};

interface RouteSchemas {
  body?: z.ZodType;
  querystring?: z.ZodType;
  params?: z.ZodType;
  /** Answers by status code (response-schemas.ts). */
  response?: Record<string, z.ZodType>;
}

export function openApiDocument(routes: RouteOptions[], info: { title: string; version: string }) {
  const paths: Record<string, Record<string, object>> = {};
  for (const route of routes) {
    const path = route.url.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, "{$1}");
    const schemas = (route.schema ?? {}) as RouteSchemas;
    for (const method of methodsOf(route)) {
      if (method === "HEAD") continue;
      paths[path] ??= {};
      paths[path][method.toLowerCase()] = {
        operationId: operationId(method, route.url),
        parameters: [
          ...parametersOf(schemas.params, "path", route.url),
          ...parametersOf(schemas.querystring, "query", route.url),
        ],
        ...(schemas.body
          ? {
              requestBody: {
                required: true,
                content: { "application/json": { schema: jsonSchemaOf(schemas.body) } },
              },
            }
          : {}),
        responses: {
          ...successResponses(schemas.response),
          "4XX": { $ref: "#/components/responses/Error" },
          "5XX": { $ref: "#/components/responses/Error" },
        },
      };
    }
  }
  return {
    openapi: "3.1.0",
    info,
    paths,
    components: {
      securitySchemes: { bearer: { type: "http", scheme: "bearer" } },
      responses: {
        Error: {
          description: "A coded error (see shared/src/errors.ts)",
          content: { "application/json": { schema: ERROR_BODY } },
        },
      },
    },
    security: [{}, { bearer: [] }],
  };
}

const ERROR_BODY = {
  type: "object",
  required: ["error"],
  properties: {
    error: {
      type: "object",
      required: ["code", "message"],
      properties: {
        code: { type: "string" },
        message: { type: "string" },
        details: { type: "object" },
      },
    },
  },
};

function methodsOf(route: RouteOptions): string[] {
  return (Array.isArray(route.method) ? route.method : [route.method]).map((m) => m.toUpperCase());
}

function operationId(method: string, url: string): string {
  return `${method.toLowerCase()}${url.replace(/^\/v1/, "").replace(/[^A-Za-z0-9]+(.)?/g, (_, c = "") => c.toUpperCase())}`;
}

/** Declared answers with their schemas; a route without any says only "2XX". */
function successResponses(response: Record<string, z.ZodType> | undefined): Record<string, object> {
  if (!response) return { "2XX": { description: "Success" } };
  return Object.fromEntries(
    Object.entries(response).map(([status, schema]) => [
      status,
      {
        description: status === "201" ? "Created" : "Success",
        content: { "application/json": { schema: jsonSchemaOf(schema, "output") } },
      },
    ]),
  );
}

/**
 * The JSON Schema of what a client sends (zod's input side: defaults optional, pre-coercion),
 * or of what it receives (output side).
 */
function jsonSchemaOf(schema: z.ZodType, io: "input" | "output" = "input"): JsonSchema {
  const { $schema: _, ...json } = z.toJSONSchema(schema, {
    io,
    unrepresentable: "any",
  }) as JsonSchema;
  return json;
}

/** An object schema for the path or query string, as one OpenAPI parameter per property. */
function parametersOf(schema: z.ZodType | undefined, where: "path" | "query", url: string): object[] {
  if (!schema) {
    if (where !== "path") return [];
    // A path parameter without a declared schema is still a parameter.
    return [...url.matchAll(/:([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => ({
      name: m[1],
      in: "path",
      required: true,
      schema: { type: "string" },
    }));
  }
  const json = jsonSchemaOf(schema);
  const required = new Set(json.required ?? []);
  return Object.entries(json.properties ?? {}).map(([name, property]) => ({
    name,
    in: where,
    required: where === "path" || required.has(name),
    schema: property,
  }));
}
