/**
 * `tribalmemory export` as a user runs it, against a real `tribalmemoryd` process: into a pipe
 * that closes early (`| head`, as any command's output may), into a pipe nobody reads yet, into a
 * folder that does not exist, and into a file holding an earlier export while the daemon is
 * killed mid-stream.
 */
import { type ChildProcess, spawn } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readLocalToken } from "@tribalmemory/shared/config/local-token";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiClient, CLI_DIR, runCli, spawnDaemon } from "../helpers/daemon.ts";

const CLI = join(CLI_DIR, "tribalmemory.ts");
const MEMORIES = 6000;

let home: string;
let daemon: { child: ChildProcess; url: string };

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), "tm-cli-export-"));
  daemon = await spawnDaemon(home);
  const api = apiClient(daemon.url, readLocalToken(home));
  // ~9 MB of JSONL with vectors: long enough a stream to be cut, or to outrun a reader.
  for (let start = 0; start < MEMORIES; start += 2000) {
    const entries = Array.from({ length: 2000 }, (_, i) => ({
      content: `export fact ${start + i}: ${"the ledger service keeps its audit trail. ".repeat(8)}`,
      tags: ["export"],
    }));
    const r = await api.importJsonl(entries);
    expect(r.status).toBe(201);
  }
  // Long ones, so a recall's JSON outgrows a pipe's buffer.
  const long = Array.from({ length: 60 }, (_, i) => ({
    content: `pipe probe ${i}: ${"a long note about the pipe probe and its readers. ".repeat(40)}`,
  }));
  expect((await api.importJsonl(long)).status).toBe(201);
}, 120_000);

afterAll(() => {
  daemon.child.kill("SIGKILL");
  rmSync(home, { recursive: true, force: true });
});

/** A shell line with the CLI as `tm`, its exit statuses and stderr. */
function shell(line: string): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn("bash", ["-c", `tm() { "${process.execPath}" "${CLI}" "$@"; }; ${line}`], {
      env: { ...process.env, TRIBAL_MEMORY_HOME: home },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", () => resolve({ stdout, stderr }));
  });
}

const rssKiB = (pid: number) =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? Number.NaN);

describe("files the CLI cannot read or write: one coded line, no stack", () => {
  it("import of a missing file, of a folder, and --from mem0 of a folder", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tm-import-in-"));
    const missing = join(dir, "nope.jsonl");
    const r1 = await runCli(home, ["import", missing]);
    expect(r1.code).toBe(1);
    expect(r1.stderr).toBe(
      `tribalmemory: IMPORT_INVALID: cannot read ${missing} (ENOENT). Check the path.\n`,
    );
    for (const args of [
      ["import", dir],
      ["import", "--from", "mem0", dir],
    ]) {
      const r = await runCli(home, args);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(
        `tribalmemory: IMPORT_INVALID: cannot read ${dir} (EISDIR). Name a file, not a folder.\n`,
      );
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it("export -o a folder is refused before anything is written", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tm-export-out-"));
    const r = await runCli(home, ["export", "-o", dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `tribalmemory: ${dir} is a folder: name a file in it, e.g. ${join(dir, "memories.jsonl")}.\n`,
    );
    expect(readdirSync(dir)).toEqual([]);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe("tribalmemory export", () => {
  it("stops quietly when the reader closes early (| head), exit 0 and no stack", async () => {
    const r = await shell(
      // biome-ignore lint/suspicious/noTemplateCurlyInString: bash's exit status of the CLI in the pipe
      'tm export --include-embeddings | head -c 200 > /dev/null; echo "cli=${PIPESTATUS[0]}"',
    );
    expect(r.stderr).toBe("");
    expect(r.stdout.trim()).toBe("cli=0");
  });

  it("any command's output into a reader that closes early ends quietly too (recall --json | head)", async () => {
    const r = await shell(
      // biome-ignore lint/suspicious/noTemplateCurlyInString: bash's exit status of the CLI in the pipe
      'tm recall --json --limit 60 pipe probe readers | head -c 100 > /dev/null; echo "cli=${PIPESTATUS[0]}"',
    );
    expect(r.stderr).toBe("");
    expect(r.stdout.trim()).toBe("cli=0");
  });

  it("waits for a slow reader instead of holding the export in memory", async () => {
    const child = spawn(process.execPath, [CLI, "export", "--include-embeddings"], {
      env: { ...process.env, TRIBAL_MEMORY_HOME: home },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout.pause();
    // The first bytes arrive, then nobody reads for a while.
    await new Promise<void>((r) => child.stdout.once("readable", () => r()));
    const pid = child.pid as number;
    const early = rssKiB(pid);
    await new Promise((r) => setTimeout(r, 2500));
    const held = rssKiB(pid);
    let bytes = 0;
    child.stdout.on("data", (d: Buffer) => {
      bytes += d.length;
    });
    child.stdout.resume();
    const code = await new Promise((r) => child.on("exit", r));
    expect(code).toBe(0);
    // The export is ~9 MB; a CLI that buffered it would hold all of it while the pipe was full.
    expect(bytes).toBeGreaterThan(5_000_000);
    expect(held - early).toBeLessThan(bytes / 1024 / 2);
  }, 60_000);

  it("says which file it cannot write and why, in one line, and creates nothing", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tm-export-out-"));
    const out = join(dir, "missing-folder", "memories.jsonl");
    const r = await runCli(home, ["export", "-o", out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `tribalmemory: cannot write ${out} (ENOENT); ${out} was not written. Create its folder, or name another file.\n`,
    );
    expect(readdirSync(dir)).toEqual([]);
    rmSync(dir, { recursive: true, force: true });
  });

  it("replaces an earlier export in place of it: its permissions stay", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tm-export-out-"));
    const out = join(dir, "private.jsonl");
    writeFileSync(out, "yesterday's export\n", { mode: 0o600 });
    chmodSync(out, 0o600);
    const r = await runCli(home, ["export", "-o", out]);
    expect(r.code).toBe(0);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    expect(readFileSync(out, "utf8")).toContain('"manifest"');
    rmSync(dir, { recursive: true, force: true });
  });

  it("keeps the earlier export whole when the daemon dies mid-stream (SIGKILL), and says so", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tm-export-out-"));
    const out = join(dir, "backup.jsonl");
    writeFileSync(out, "yesterday's export\n");
    const cli = spawn(process.execPath, [CLI, "export", "--include-embeddings", "-o", out], {
      env: { ...process.env, TRIBAL_MEMORY_HOME: home },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    cli.stderr.on("data", (d) => (stderr += d));
    const exited = new Promise((r) => cli.on("exit", r));
    // Once part of the export is on disk, the daemon is killed.
    const written = () =>
      readdirSync(dir).some((f) => f !== "backup.jsonl" && readFileSync(join(dir, f)).length > 0) ||
      readFileSync(out, "utf8") !== "yesterday's export\n";
    while (!written()) await new Promise((r) => setTimeout(r, 2));
    daemon.child.kill("SIGKILL");
    expect(await exited).toBe(1);
    expect(stderr).toMatch(
      new RegExp(
        `^tribalmemory: export interrupted: .+; ${out.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} is unchanged\\. Run it again\\.\\n$`,
      ),
    );
    expect(readFileSync(out, "utf8")).toBe("yesterday's export\n");
    expect(readdirSync(dir)).toEqual(["backup.jsonl"]);
    expect(existsSync(out)).toBe(true);
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);
});
