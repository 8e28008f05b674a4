/**
 * `pnpm bench <name> [args]` runs `test/bench/<name>.ts`. Benchmarks print their figures and
 * write JSON under bench-results/; they never fail a test run for being slow.
 */
import { existsSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";

const [name, ...rest] = process.argv.slice(2);
const dir = fileURLToPath(new URL(".", import.meta.url));
const available = readdirSync(dir)
  .filter((f) => f.endsWith(".ts") && f !== "main.ts" && !f.startsWith("_"))
  .map((f) => f.slice(0, -3));
if (!name || !existsSync(new URL(`./${name}.ts`, import.meta.url))) {
  process.stderr.write(`usage: pnpm bench <name> [args]\navailable: ${available.join(", ")}\n`);
  process.exit(name ? 1 : 0);
}
process.argv = [process.argv[0], fileURLToPath(new URL(`./${name}.ts`, import.meta.url)), ...rest];
await import(`./${name}.ts`);
