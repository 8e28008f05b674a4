/**
 * The npm package as a user gets it: `scripts/pack.sh` builds and packs the tarball, npm installs
 * it into a temporary global prefix (its dependencies from the registry, through the usual npm
 * cache), and everything below runs from a temporary folder outside the checkout with only that
 * prefix's bin and Node on PATH. One file does the slow part (pack + install) once.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const TOOLS = [
  "tribal_correct",
  "tribal_entity_graph",
  "tribal_export",
  "tribal_forget",
  "tribal_import",
  "tribal_recall",
  "tribal_recall_entity",
  "tribal_remember",
  "tribal_sessions_ingest",
  "tribal_stats",
];

type ToolResult = { isError?: boolean; structuredContent: Record<string, unknown> };

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function waitFor<T>(probe: () => Promise<T | null>, ms: number, what: string): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe().catch(() => null);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe("the tribalmemory npm package, installed from its tarball", () => {
  const work = mkdtempSync(join(tmpdir(), "tm-package-"));
  const prefix = join(work, "prefix");
  const outside = join(work, "elsewhere"); // the folder every command runs in
  const home = join(work, "home");
  const tribalHome = join(home, ".tribal-memory");
  // Only the installed bins and this Node: nothing of the checkout can be found through PATH.
  const env: Record<string, string> = {
    PATH: [join(prefix, "bin"), dirname(process.execPath), "/usr/bin", "/bin"].join(":"),
    HOME: home,
    TRIBAL_MEMORY_HOME: tribalHome,
    TRIBAL_MEMORY_LOG_LEVEL: "warn",
  };
  const run = (cmd: string, args: string[], extra: Record<string, string> = {}) =>
    execFileSync(cmd, args, { cwd: outside, env: { ...env, ...extra }, encoding: "utf8" });
  let tarball = "";
  let installMs = 0;
  let daemon: ChildProcess | null = null;
  let daemonUrl = "";

  beforeAll(async () => {
    mkdirSync(outside, { recursive: true });
    mkdirSync(tribalHome, { recursive: true });
    tarball = execFileSync("bash", [join(REPO, "scripts/pack.sh"), join(work, "pack")], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
    })
      .trim()
      .split("\n")
      .pop()!;
    const t0 = performance.now();
    // npm from the machine, as a user would run it; its cache (~/.npm) makes a rerun fast.
    execFileSync(
      "npm",
      ["install", "-g", "--prefix", prefix, "--no-audit", "--no-fund", "--loglevel=error", tarball],
      {
        cwd: outside,
        env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: "skip", PATH: `${env.PATH}:${process.env.PATH}` },
        stdio: ["ignore", "inherit", "inherit"],
      },
    );
    installMs = performance.now() - t0;
    console.log(
      `[package] ${tarball}: ${Math.round(statSync(tarball).size / 1024)} KiB; ` +
        `npm install -g into a clean prefix: ${(installMs / 1000).toFixed(1)} s`,
    );
  }, 600_000);

  afterAll(async () => {
    if (daemon && daemon.exitCode === null) daemon.kill("SIGKILL");
    rmSync(work, { recursive: true, force: true });
  });

  it("puts the three bins on PATH, resolving into the installed package, not the checkout", () => {
    for (const bin of ["tribalmemory", "tribalmemoryd", "tribalmemory-mcp"]) {
      const target = realpathSync(join(prefix, "bin", bin));
      expect(target.startsWith(realpathSync(prefix))).toBe(true);
      expect(target.startsWith(realpathSync(REPO))).toBe(false);
    }
    const installed = join(prefix, "lib", "node_modules", "tribalmemory");
    // Runtime files travel with the bundle (dashboard, tokenizer); no TypeScript is shipped.
    expect(existsSync(join(installed, "dashboard", "dist", "index.html"))).toBe(true);
    expect(existsSync(join(installed, "shared", "models", "bge-small-en-v1.5", "vocab.txt"))).toBe(true);
    expect(execFileSync("find", [join(installed, "dist"), "-name", "*.ts"], { encoding: "utf8" })).toBe("");
  });

  it("answers --version from any folder", () => {
    const version = JSON.parse(readFileSync(join(REPO, "cli", "package.json"), "utf8")).version;
    expect(run("tribalmemory", ["--version"]).trim()).toBe(version);
    expect(run("tribalmemoryd", ["--version"]).trim()).toBe(version);
  });

  it("runs from the tarball with npx, without an install", () => {
    const version = JSON.parse(readFileSync(join(REPO, "cli", "package.json"), "utf8")).version;
    // The machine's npm cache (warm after the install above), as a user's npx would use it.
    const out = execFileSync("npx", ["--yes", "--package", tarball, "tribalmemory", "--version"], {
      cwd: outside,
      env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: "skip", TRIBAL_MEMORY_HOME: tribalHome },
      encoding: "utf8",
      timeout: 300_000,
    });
    expect(out.trim().split("\n").pop()).toBe(version);
  }, 320_000);

  it("runs tribalmemoryd with its default offline embedder and serves the API and the dashboard", async () => {
    const port = await freePort();
    daemon = spawn("tribalmemoryd", ["--port", String(port)], { cwd: outside, env, stdio: "ignore" });
    daemonUrl = `http://127.0.0.1:${port}`;
    // The embedder runs in a worker the bundle starts by URL: "ready" proves it loaded.
    const health = await waitFor(
      async () => {
        const h = (await (await fetch(`${daemonUrl}/v1/health`)).json()) as {
          embedding: { status: string; model: string };
        };
        return h.embedding.status === "ready" ? h : null;
      },
      60_000,
      "the daemon's embedder",
    );
    expect(health.embedding.model).toMatch(/use-lite/);
    const page = await fetch(`${daemonUrl}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<meta name="tribal-source" content="daemon">');
  });

  it("tribalmemory-mcp: handshake, tools/list, remember then recall against that daemon", async () => {
    const t0 = performance.now();
    const client = new Client({ name: "package-test", version: "1.0.0" });
    await client.connect(
      new StdioClientTransport({
        command: "tribalmemory-mcp",
        cwd: outside,
        env: { ...env, TRIBAL_MEMORY_URL: daemonUrl },
        stderr: "pipe",
      }),
    );
    try {
      const { tools } = await client.listTools();
      const handshakeMs = performance.now() - t0;
      expect(tools.map((t) => t.name)).toEqual(expect.arrayContaining(TOOLS));
      const remembered = (await client.callTool({
        name: "tribal_remember",
        arguments: { content: "The package test cluster runs in eu-north-1", tags: ["infra"] },
      })) as ToolResult;
      const firstResultMs = performance.now() - t0;
      expect(remembered.isError).toBeFalsy();
      expect(remembered.structuredContent).toMatchObject({ success: true, duplicate_of: null });
      const recalled = (await client.callTool({
        name: "tribal_recall",
        arguments: { query: "which region does the package test cluster run in", limit: 3 },
      })) as ToolResult;
      const results = recalled.structuredContent.results as { content: string }[];
      expect(results[0].content).toBe("The package test cluster runs in eu-north-1");
      console.log(
        `[package] tribalmemory-mcp cold start: initialize + tools/list ${Math.round(handshakeMs)} ms, ` +
          `first tool result (tribal_remember) ${Math.round(firstResultMs)} ms`,
      );
    } finally {
      await client.close();
    }
  });

  it("tribalmemory-mcp starts a daemon itself from the installed package when none runs", async () => {
    const ownHome = join(work, "own-home");
    const ownEnv = {
      ...env,
      HOME: ownHome,
      TRIBAL_MEMORY_HOME: join(ownHome, ".tribal-memory"),
      TRIBAL_MEMORY_PORT: "0",
      TRIBAL_MEMORY_EMBEDDING: "hashing",
    };
    const client = new Client({ name: "package-test", version: "1.0.0" });
    await client.connect(
      new StdioClientTransport({ command: "tribalmemory-mcp", cwd: outside, env: ownEnv, stderr: "pipe" }),
    );
    const info = join(ownHome, ".tribal-memory", "data", "daemon.json");
    try {
      const stats = (await client.callTool({ name: "tribal_stats", arguments: {} })) as ToolResult;
      expect(stats.isError).toBeFalsy();
      expect(existsSync(info)).toBe(true);
    } finally {
      await client.close();
      if (existsSync(info)) process.kill((JSON.parse(readFileSync(info, "utf8")) as { pid: number }).pid);
    }
  });

  it('init writes "command": "tribalmemory-mcp" when the bin is on PATH', () => {
    run("tribalmemory", ["init", "--claude-code"]);
    const entry = JSON.parse(readFileSync(join(home, ".claude.json"), "utf8")).mcpServers["tribal-memory"];
    expect(entry).toMatchObject({ command: "tribalmemory-mcp", args: [] });
  });

  it("stops the daemon cleanly on SIGTERM", async () => {
    expect(daemon?.exitCode).toBeNull();
    const exited = new Promise<number | null>((resolve) => daemon?.once("exit", (code) => resolve(code)));
    daemon?.kill("SIGTERM");
    expect(await exited).toBe(0);
  });

  it("starts again on that folder with its vector index read from the snapshot, on a worker the bundle starts by URL, and its keyword scorer loaded", async () => {
    const port = await freePort();
    const again = spawn("tribalmemoryd", ["--port", String(port)], {
      cwd: outside,
      env: { ...env, TRIBAL_MEMORY_LOG_LEVEL: "info" },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let log = "";
    again.stderr?.on("data", (chunk: Buffer) => {
      log += chunk.toString();
    });
    try {
      const read = await waitFor(
        async () => log.split("\n").find((line) => line.includes('"vector index read"')) ?? null,
        60_000,
        "the vector index read from its snapshot",
      );
      expect(JSON.parse(read)).toMatchObject({ from: "snapshot" });
      expect(JSON.parse(read).vectors).toBeGreaterThan(0);
      const health = await waitFor(
        async () =>
          (await (await fetch(`http://127.0.0.1:${port}/v1/health`)).json()) as Record<string, unknown>,
        30_000,
        "health",
      );
      expect(health.vector_index).toMatchObject({ state: "ready", from: "snapshot" });
      // The package was built with the keyword scorer compiled for this machine (cli/build.ts).
      expect(health.keyword_index).toMatchObject({ scorer: "tm_bm25", term_stats: { building: false } });
      expect(health.entity_index).toEqual({ state: "current" });
    } finally {
      const exited = new Promise((resolve) => again.once("exit", resolve));
      again.kill("SIGTERM");
      await exited;
    }
  });
});
