import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export function percentile(values: number[], p: number): number {
  if (!values.length) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx];
}

export function summarize(values: number[]): {
  p50: number;
  p95: number;
  p99: number;
  mean: number;
  n: number;
} {
  const r = (x: number) => Math.round(x * 1000) / 1000;
  return {
    p50: r(percentile(values, 50)),
    p95: r(percentile(values, 95)),
    p99: r(percentile(values, 99)),
    mean: r(values.reduce((a, b) => a + b, 0) / Math.max(1, values.length)),
    n: values.length,
  };
}

/** Write bench-results/<name>.json and print where. */
export function writeReport(name: string, data: unknown): string {
  const dir = join(process.cwd(), "bench-results");
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${name}.json`);
  writeFileSync(
    path,
    `${JSON.stringify({ name, at: new Date().toISOString(), node: process.version, ...(data as object) }, null, 2)}\n`,
  );
  process.stdout.write(`wrote ${path}\n`);
  return path;
}
