import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { apiClient, CLI_DIR, spawnDaemon, tempHome } from "../helpers/daemon.ts";

/** A second tribalmemoryd on the same home: its exit code and stderr. */
async function secondDaemon(home: string): Promise<{ code: unknown; err: string }> {
  const second = spawn(
    process.execPath,
    [join(CLI_DIR, "tribalmemoryd.ts"), "--port", "0", "--embedding", "none"],
    { env: { ...process.env, TRIBAL_MEMORY_HOME: home }, stdio: ["ignore", "ignore", "pipe"] },
  );
  let err = "";
  second.stderr.on("data", (d) => (err += d));
  const code = await new Promise((r) => second.on("exit", r));
  return { code, err };
}

/**
 * The data-folder lock is an OS file lock held by the running daemon: the kernel releases it
 * when the process dies, so neither a crash nor a reused pid leaves the folder locked.
 */
describe("daemon data-folder lock", () => {
  it("refuses a second daemon while the first runs, naming the owner's pid", async () => {
    const h = tempHome();
    const first = await spawnDaemon(h.home);
    try {
      const { code, err } = await secondDaemon(h.home);
      expect(code).toBe(3);
      expect(err).toContain("DATA_DIR_LOCKED");
      expect(err).toContain(`pid ${first.child.pid}`);
      expect((await apiClient(first.url).get("/v1/health")).status).toBe(200);
    } finally {
      first.child.kill("SIGTERM");
      await new Promise((r) => first.child.once("exit", r));
      h.cleanup();
    }
  });

  it("starts again at once after the holder is killed with SIGKILL", async () => {
    const h = tempHome();
    try {
      const first = await spawnDaemon(h.home);
      first.child.kill("SIGKILL");
      await new Promise((r) => first.child.once("exit", r));
      const again = await spawnDaemon(h.home);
      expect((await apiClient(again.url).get("/v1/health")).status).toBe(200);
      again.child.kill("SIGTERM");
      await new Promise((r) => again.child.once("exit", r));
    } finally {
      h.cleanup();
    }
  });

  it("is not blocked by lock files naming a live, unrelated process (a reused pid)", async () => {
    const h = tempHome();
    try {
      const data = join(h.home, "data");
      mkdirSync(data, { recursive: true });
      // As a crashed daemon leaves them, with its pid now belonging to another live process:
      // this test runner. The old pid-file lock refused to start here until someone deleted it.
      writeFileSync(join(data, "daemon.lock"), `${process.pid}\n`);
      writeFileSync(join(data, "daemon.pid"), `${process.pid}\n`);
      const d = await spawnDaemon(h.home);
      expect((await apiClient(d.url).get("/v1/health")).status).toBe(200);
      // And the new lock holds against a second daemon.
      const { code, err } = await secondDaemon(h.home);
      expect(code).toBe(3);
      expect(err).toContain(`pid ${d.child.pid}`);
      d.child.kill("SIGTERM");
      await new Promise((r) => d.child.once("exit", r));
    } finally {
      h.cleanup();
    }
  });
});
