import type { z } from "zod";
import { TribalError } from "../errors.ts";

/** Parse input with its schema or throw VALIDATION_FAILED listing every bad field. */
export function validate<S extends z.ZodType>(schema: S, input: unknown, where = "body"): z.infer<S> {
  const result = schema.safeParse(input ?? {});
  if (result.success) return result.data;
  const issues = result.error.issues.map((i) => ({
    path: i.path.length ? i.path.join(".") : where,
    message: i.message,
    code: i.code,
  }));
  const first = issues[0];
  throw new TribalError(
    "VALIDATION_FAILED",
    `Invalid ${where}: ${first.path}: ${first.message}${issues.length > 1 ? ` (and ${issues.length - 1} more)` : ""}`,
    { issues },
  );
}
