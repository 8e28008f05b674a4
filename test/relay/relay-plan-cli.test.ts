import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createWorkspace, openDatabase, planHistory } from "@tribalmemory/sync-server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const CLI = fileURLToPath(new URL("../../cli/src/tribalmemory.ts", import.meta.url));

/** `tribalmemory relay plan <workspace> <plan>` as a real process against the relay's database. */
describe("tribalmemory relay plan", () => {
  const tmp = mkdtempSync(join(tmpdir(), "tm-relay-plan-"));
  const dataDir = join(tmp, "relay");
  // The test cluster when one runs (with-postgres.sh), else a PGlite folder.
  const dbArgs = process.env.TEST_DATABASE_URL
    ? ["--database-url", process.env.TEST_DATABASE_URL]
    : ["--data-dir", dataDir];
  const dbOptions = process.env.TEST_DATABASE_URL
    ? { databaseUrl: process.env.TEST_DATABASE_URL }
    : { dataDir };
  let workspaceId: string;

  beforeAll(async () => {
    const db = await openDatabase(dbOptions);
    try {
      ({ workspaceId } = await createWorkspace(db, { name: "cli-plan" }));
    } finally {
      await db.close();
    }
  }, 120_000);

  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      const p = spawn(process.execPath, [CLI, "relay", "plan", ...args, ...dbArgs], {
        env: {
          ...process.env,
          HOME: tmp,
          TRIBAL_MEMORY_HOME: join(tmp, ".tribal-memory"),
          TRIBAL_MEMORY_DATABASE_URL: "",
        },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      p.stdout.on("data", (d) => (stdout += d));
      p.stderr.on("data", (d) => (stderr += d));
      p.on("exit", (code) => resolve({ code, stdout, stderr }));
    });
  }

  it("sets an Enterprise plan with its own limits and records the admin in the plan history", async () => {
    const r = await run([
      workspaceId,
      "enterprise",
      "--memories",
      "5000",
      "--agents",
      "unlimited",
      "--note",
      "contract 42",
    ]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      workspace_id: workspaceId,
      plan: "enterprise",
      from: "free",
      changed: true,
      limits: { memories: 5000, queries_per_month: null, agents: null },
    });
    const db = await openDatabase(dbOptions);
    try {
      const history = await planHistory(db, workspaceId);
      expect(history.map((h) => [h.from, h.plan, h.source, h.reference, h.custom_limits])).toEqual([
        ["free", "enterprise", "admin", "contract 42", { memories: 5000 }],
      ]);
      const audit = await db.tx(workspaceId, (sql) =>
        sql.query<{ action: string; target: string; details: Record<string, unknown> }>(
          "SELECT action, target, details FROM audit_log WHERE workspace_id = $1 AND action = 'plan.change'",
          [workspaceId],
        ),
      );
      expect(audit).toEqual([
        {
          action: "plan.change",
          target: "enterprise",
          details: {
            from: "free",
            source: "admin",
            reference: "contract 42",
            custom_limits: { memories: 5000 },
          },
        },
      ]);
    } finally {
      await db.close();
    }
  }, 120_000);

  it("refuses an unknown plan, a workspace that does not exist, and limits on a fixed plan, in one line each", async () => {
    const cases: [string[], string][] = [
      [[workspaceId, "gold"], 'Unknown plan "gold": one of free, pro, team, enterprise.'],
      [["6a1f4c8e-0000-4000-8000-000000000000", "pro"], "No workspace 6a1f4c8e-0000-4000-8000-000000000000"],
      [[workspaceId, "pro", "--memories", "10"], "set Enterprise limits"],
    ];
    for (const [args, message] of cases) {
      const r = await run(args);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("tribalmemory relay: VALIDATION_FAILED:");
      expect(r.stderr).toContain(message);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
    }
  }, 120_000);
});
