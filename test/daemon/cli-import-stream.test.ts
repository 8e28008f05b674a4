/**
 * `tribalmemory import FILE` against a real `tribalmemoryd` process: a JSONL file streams from
 * disk in chunks (an export of a million memories is larger than one string may be, so reading
 * it whole failed), with error line numbers true to the file; a pipe is read once; the bundle
 * `export --format bundle` writes (one line of JSON) imports its entries (it imported none).
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI_DIR, runCli, spawnDaemon } from "../helpers/daemon.ts";

let home: string;
let dir: string;
let daemon: Awaited<ReturnType<typeof spawnDaemon>>;

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), "tm-cli-import-"));
  dir = mkdtempSync(join(tmpdir(), "tm-cli-import-files-"));
  daemon = await spawnDaemon(home);
}, 60_000);

afterAll(() => {
  daemon.child.kill("SIGKILL");
  rmSync(home, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
});

const MANIFEST = JSON.stringify({ manifest: { schema_version: "1.0" } });
const entry = (i: number, size: number) =>
  JSON.stringify({ content: `streamed fact ${i}: ${`word${i % 97} `.repeat(size / 8)}`, tags: ["stream"] });

/** The CLI with its heap capped (NODE_OPTIONS), as a process; or a bash line with it as `tm`. */
function cli(
  args: string[],
  heapMiB?: number,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return run(process.execPath, [join(CLI_DIR, "tribalmemory.ts"), ...args], heapMiB);
}
function bash(line: string) {
  return run("bash", [
    "-c",
    `tm() { "${process.execPath}" "${join(CLI_DIR, "tribalmemory.ts")}" "$@"; }; ${line}`,
  ]);
}
function run(cmd: string, args: string[], heapMiB?: number) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const env: NodeJS.ProcessEnv = { ...process.env, TRIBAL_MEMORY_HOME: home };
    if (heapMiB) env.NODE_OPTIONS = `--max-old-space-size=${heapMiB}`;
    const child = spawn(cmd, args, { env });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("tribalmemory import FILE", () => {
  it("streams a JSONL file: a file larger than the CLI's heap imports", async () => {
    const large = join(dir, "large.jsonl");
    writeFileSync(
      large,
      `${MANIFEST}\n${Array.from({ length: 7500 }, (_, i) => entry(i, 8000)).join("\n")}\n`,
    );
    // ~60 MB against a 64 MiB heap: read whole, the text and its lines alone exhaust it.
    const r = await cli(["import", "--dry-run", large], 64);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/would import 7500 of 7500/);
  }, 120_000);

  it("reads a pipe once (process substitution), whole", async () => {
    const small = join(dir, "piped.jsonl");
    writeFileSync(small, `${MANIFEST}\n${entry(1, 80)}\n${entry(2, 80)}\n`);
    const r = await bash(`tm import --dry-run <(cat "${small}")`);
    expect(r.stderr).toBe("");
    expect(r.stdout).toMatch(/would import 2 of 2/);
  });

  it("says which lines of the file are bad, across chunks, and imports the rest", async () => {
    const file = join(dir, "bad-lines.jsonl");
    const lines = Array.from({ length: 1200 }, (_, i) => entry(i, 80));
    lines[0] = "not json"; // file line 2
    lines[1099] = '{"content": ""}'; // file line 1101, in the third request
    writeFileSync(file, `${MANIFEST}\n${lines.join("\n")}\n`);
    const r = await runCli(home, ["import", file]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/imported 1198 of 1200/);
    expect(r.stderr).toMatch(/^ {2}line 2: not JSON/m);
    expect(r.stderr).toMatch(/^ {2}line 1101: /m);
  }, 60_000);

  it("imports the daemon's own bundle export (one line of JSON), not zero of zero", async () => {
    const bundle = join(dir, "bundle.json");
    const ex = await runCli(home, ["export", "--format", "bundle", "-o", bundle]);
    expect(ex.code).toBe(0);
    const r = await runCli(home, ["import", bundle]);
    expect(r.code).toBe(0);
    // Every id is already here (the file was exported from this daemon): all skipped.
    expect(r.stdout).toMatch(/imported 0 of 1198; skipped 1198/);
  }, 60_000);
});
