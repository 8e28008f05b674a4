import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli, tempHome } from "../helpers/daemon.ts";

describe("tribalmemory CLI", () => {
  let h: ReturnType<typeof tempHome>;
  beforeAll(async () => {
    h = tempHome();
    writeFileSync(join(h.home, "config.yaml"), "server:\n  port: 0\nembedding:\n  provider: hashing\n");
    const started = await runCli(h.home, ["daemon", "start"]);
    expect(started.stdout).toContain("tribalmemoryd started");
  });
  afterAll(async () => {
    const stopped = await runCli(h.home, ["daemon", "stop"]);
    expect(stopped.stdout).toContain("stopped");
    h.cleanup();
  });

  it("prints its version", async () => {
    expect((await runCli(h.home, ["--version"])).stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it("remembers, recalls as a table and as JSON, corrects and forgets", async () => {
    const r = await runCli(h.home, ["remember", "--tags", "build", "We", "use", "pnpm", "workspaces"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^remembered [0-9a-f-]{36}\n$/);
    const id = /remembered ([0-9a-f-]{36})/.exec(r.stdout)?.[1] as string;
    const table = await runCli(h.home, ["recall", "which", "package", "manager", "pnpm"]);
    expect(table.stdout).toContain("We use pnpm workspaces");
    expect(table.stdout).toMatch(/1 result\(s\)/);
    const json = JSON.parse((await runCli(h.home, ["recall", "--json", "pnpm"])).stdout);
    expect(json.results[0].memory).toMatchObject({ id, tags: ["build"], source_instance: "cli" });
    const fixed = await runCli(h.home, ["correct", id, "We", "use", "pnpm", "12", "workspaces"]);
    expect(fixed.stdout).toContain(`supersedes ${id}`);
    const newId = /corrected: ([0-9a-f-]{36})/.exec(fixed.stdout)?.[1] as string;
    expect((await runCli(h.home, ["forget", newId])).stdout).toContain(`forgot ${newId}`);
    // The correction is gone, so the original it superseded is shown again.
    const after = await runCli(h.home, ["recall", "pnpm"]);
    expect(after.stdout).not.toContain("pnpm 12");
    expect(after.stdout).toContain("We use pnpm workspaces");
  });

  it("shows daemon status and stats", async () => {
    const s = await runCli(h.home, ["daemon", "status"]);
    expect(s.stdout).toMatch(/running\s+http:\/\/127\.0\.0\.1:\d+/);
    expect(s.stdout).toContain("hashing-bow-384");
    expect((await runCli(h.home, ["stats"])).stdout).toMatch(/memories\s+\d+/);
  });

  it("exports and imports a file, with line-numbered errors", async () => {
    for (let i = 0; i < 5; i++) await runCli(h.home, ["remember", `exportable fact number ${i}`]);
    const file = join(h.home, "out.jsonl");
    const ex = await runCli(h.home, ["export", "--out", file]);
    expect(ex.code).toBe(0);
    const other = tempHome();
    try {
      writeFileSync(join(other.home, "config.yaml"), "server:\n  port: 0\nembedding:\n  provider: hashing\n");
      await runCli(other.home, ["daemon", "start"]);
      const imported = await runCli(other.home, ["import", file]);
      expect(imported.stdout).toMatch(/imported 6 of 6/);
      const bad = join(other.home, "bad.jsonl");
      writeFileSync(bad, '{"content":"good line"}\nnot json\n{"content":"another good line"}\n');
      const abort = await runCli(other.home, ["import", "--on-error", "abort", bad]);
      expect(abort.code).toBe(1);
      expect(abort.stderr).toContain("line 2");
      const skip = await runCli(other.home, ["import", bad]);
      expect(skip.stdout).toMatch(/imported 2 of 3/);
      expect(skip.stderr).toContain("line 2: not JSON");
    } finally {
      await runCli(other.home, ["daemon", "stop"]);
      other.cleanup();
    }
  });

  it("explains when no daemon is running", async () => {
    const none = tempHome();
    try {
      const r = await runCli(none.home, ["--url", "http://127.0.0.1:9", "recall", "x"]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("tribalmemory daemon start");
    } finally {
      none.cleanup();
    }
  });
});
