/**
 * fast-check arbitraries derived from the API's zod (v4) schemas: mostly schema-shaped values
 * (so handlers run past validation), with edge values near and beyond each bound, wrong types
 * and unknown keys mixed in (so validation's refusals are exercised too).
 */
import fc from "fast-check";
import type { z } from "zod";

type Def = { type: string; [k: string]: any };
const defOf = (s: z.ZodType): Def => (s as unknown as { _zod: { def: Def } })._zod.def;

const EDGE_STRINGS = [
  "",
  " ",
  "\u0000",
  "last week",
  "2024-03-01",
  "in March",
  "a,b,,c",
  "💥",
  "x".repeat(300),
];

function bounds(def: Def): { min?: number; max?: number; int: boolean; format?: string } {
  const out: { min?: number; max?: number; int: boolean; format?: string } = { int: false };
  for (const c of def.checks ?? []) {
    const cd = c._zod?.def ?? {};
    if (cd.check === "min_length") out.min = cd.minimum;
    if (cd.check === "max_length") out.max = cd.maximum;
    if (cd.check === "greater_than") out.min = Number(cd.value);
    if (cd.check === "less_than") out.max = Number(cd.value);
    if (cd.check === "number_format" && String(cd.format).includes("int")) out.int = true;
    if (cd.check === "string_format") out.format = cd.format;
  }
  return out;
}

/** Junk of any JSON type: what a confused or hostile client sends. */
export const junk = (): fc.Arbitrary<unknown> =>
  fc.oneof(
    fc.jsonValue({ maxDepth: 2 }),
    fc.constantFrom(null, true, 0, -1, 1e308, "", [], {}, "__proto__", { __proto__: { x: 1 } }),
  );

export function arbitraryOf(schema: z.ZodType, depth = 0): fc.Arbitrary<unknown> {
  const def = defOf(schema);
  const wrong = depth > 3 ? fc.constant(null) : junk();
  const mix = (right: fc.Arbitrary<unknown>) =>
    fc.oneof({ weight: 8, arbitrary: right }, { weight: 1, arbitrary: wrong });
  switch (def.type) {
    case "string": {
      const b = bounds(def);
      const max = Math.min(b.max ?? 200, 400);
      return mix(
        fc.oneof(
          fc.string({ minLength: b.min ?? 0, maxLength: max }),
          fc.string({ unit: "binary", maxLength: 40 }),
          fc.uuid(),
          fc.constantFrom(...EDGE_STRINGS),
          fc.constant("y".repeat(max + 1)),
        ),
      );
    }
    case "number": {
      const b = bounds(def);
      const lo = b.min ?? -1000;
      const hi = b.max ?? 1000;
      return mix(
        fc.oneof(
          b.int
            ? fc.integer({ min: Math.ceil(lo), max: Math.floor(hi) })
            : fc.double({ min: lo, max: hi, noNaN: true }),
          fc.constantFrom(lo - 1, hi + 1, 0, 0.5, -0, Number.MAX_SAFE_INTEGER),
          fc.double(),
        ),
      );
    }
    case "boolean":
      return mix(fc.boolean());
    case "null":
      return fc.constant(null);
    case "literal":
      return mix(fc.constantFrom(...(def.values as unknown[])));
    case "enum":
      return mix(
        fc.oneof(
          fc.constantFrom(...Object.values(def.entries as Record<string, unknown>)),
          fc.string({ maxLength: 12 }),
        ),
      );
    case "optional":
    case "default":
    case "prefault":
    case "readonly":
    case "catch":
      return arbitraryOf(def.innerType, depth);
    case "nullable":
      return fc.oneof(arbitraryOf(def.innerType, depth), fc.constant(null));
    case "pipe":
      return arbitraryOf(def.in, depth);
    case "union":
      return fc.oneof(...(def.options as z.ZodType[]).map((o) => arbitraryOf(o, depth + 1)));
    case "array": {
      const b = bounds(def);
      if (depth > 3) return fc.constant([]);
      return mix(
        fc.array(arbitraryOf(def.element, depth + 1), {
          minLength: Math.min(b.min ?? 0, 3),
          maxLength: Math.min(b.max ?? 4, 4),
        }),
      );
    }
    case "record":
      return mix(fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }));
    case "object": {
      if (depth > 3) return fc.constant({});
      const shape = def.shape as Record<string, z.ZodType>;
      const keys = Object.keys(shape);
      const required = keys.filter(
        (k) => !["optional", "default", "prefault"].includes(defOf(shape[k]).type),
      );
      const fields: Record<string, fc.Arbitrary<unknown>> = {};
      for (const k of keys) fields[k] = arbitraryOf(shape[k], depth + 1);
      const record = fc.record(fields, { requiredKeys: required });
      return mix(
        fc.oneof(
          { weight: 6, arbitrary: record },
          {
            weight: 1,
            arbitrary: fc
              .tuple(record, fc.string({ minLength: 1, maxLength: 10 }), junk())
              .map(([r, k, v]) => ({ ...(r as object), [k]: v })),
          },
        ),
      );
    }
    default:
      // unknown, any, custom, lazy, transform: JSON of any shape.
      return fc.jsonValue({ maxDepth: 2 });
  }
}

/** A query string from a schema-shaped object (arrays as comma lists, as the API takes them). */
export function queryOf(value: unknown): string {
  if (!value || typeof value !== "object" || Array.isArray(value)) return "";
  const parts: string[] = [];
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (v === undefined) continue;
    const text = Array.isArray(v)
      ? v.map(String).join(",")
      : typeof v === "object"
        ? JSON.stringify(v)
        : String(v);
    parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(text)}`);
  }
  return parts.length ? `?${parts.join("&")}` : "";
}
