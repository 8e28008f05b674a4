import type { FastifyInstance, FastifyRequest, FastifyTypeProvider } from "fastify";
import type { z } from "zod";
import { validate } from "./validate.ts";

/**
 * Routes declare their zod schemas in the route options (`schema: { body, querystring, params }`);
 * this type provider gives handlers the parsed types, and `installZodValidation` makes Fastify
 * run those schemas. The same schemas feed the OpenAPI document (openapi.ts), so validation and
 * docs come from one source. Written here rather than taken from fastify-type-provider-zod: that
 * package's validator answers with its own error shape and brings @fastify/swagger as a peer,
 * and what is needed is a type mapping and one compiler that throws our VALIDATION_FAILED.
 */
export interface ZodTypeProvider extends FastifyTypeProvider {
  validator: this["schema"] extends z.ZodType ? z.output<this["schema"]> : unknown;
  serializer: this["schema"] extends z.ZodType ? z.input<this["schema"]> : unknown;
}

/** How an error names the part of the request that failed ("Invalid query: limit: …"). */
const PART_NAMES: Record<string, string> = {
  body: "body",
  querystring: "query",
  params: "path",
  headers: "headers",
};

/** Every schema declared on a route is a zod schema, parsed by `validate()`: one error shape. */
export function installZodValidation(app: FastifyInstance): void {
  // Response schemas (response-schemas.ts) document the answer; serialising stays plain JSON.
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  app.setValidatorCompiler(({ schema, httpPart }) => {
    const zodSchema = schema as unknown as z.ZodType;
    const where = PART_NAMES[httpPart ?? "body"] ?? String(httpPart);
    return (data: unknown) => {
      // POST /v1/import's JSONL body is a stream the route reads and checks line by line.
      if (where === "body" && isStream(data)) return { value: data };
      try {
        return { value: validate(zodSchema, data, where) };
      } catch (error) {
        return { error: error as Error };
      }
    };
  });
}

function isStream(data: unknown): boolean {
  return typeof (data as { pipe?: unknown } | null)?.pipe === "function";
}

export type Scope = "read" | "write" | "admin";
export type Authorize = (req: FastifyRequest, scope: Scope) => void | Promise<void>;

/**
 * Route options that check the caller's scope before the body is validated, so a key without
 * the scope hears 403 whatever it sent (the order the routes had when they validated by hand).
 */
export function requireScope(authorize: Authorize | undefined, scope: Scope) {
  return {
    preValidation: async (req: FastifyRequest) => {
      await authorize?.(req, scope);
    },
  };
}
