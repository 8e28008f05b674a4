import * as chrono from "chrono-node";
import { TribalError } from "../errors.ts";

/** Resolve an `after`/`before` value: ISO 8601, epoch ms, or words ("last Tuesday"). */
export function resolveTimeBound(
  field: string,
  value: string | null | undefined,
  now: Date,
): number | undefined {
  if (value === null || value === undefined || value === "") return undefined;
  if (/^\d{4}-\d{2}-\d{2}/.test(value)) {
    const ms = Date.parse(value);
    if (!Number.isNaN(ms)) return ms;
  } else if (/^\d{10,14}$/.test(value)) {
    return Number(value);
  } else {
    const parsed = chrono.parseDate(value, now, { forwardDate: false });
    if (parsed) return parsed.getTime();
  }
  throw new TribalError(
    "VALIDATION_FAILED",
    `${field} is not a date: "${value}". Use ISO 8601 (2026-03-02) or words like "last week".`,
    {
      issues: [{ path: field, message: "not a date" }],
    },
  );
}
