import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { findOnPath, MCP_BIN, MCP_COMMAND, mcpEntry } from "./agent-setup.ts";

describe("mcpEntry: the command init writes into the clients' configs", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "tm-agent-setup-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const bin = (folder: string, mode: number) => {
    mkdirSync(join(dir, folder), { recursive: true });
    const path = join(dir, folder, MCP_COMMAND);
    writeFileSync(path, "#!/bin/sh\n");
    chmodSync(path, mode);
    return path;
  };

  it('is the spec\'s "command": "tribalmemory-mcp" when an executable of that name is on PATH', () => {
    const path = bin("prefix/bin", 0o755);
    const env = { PATH: ["/nonexistent", join(dir, "empty"), join(dir, "prefix/bin")].join(":") };
    expect(findOnPath(MCP_COMMAND, env, "linux")).toBe(path);
    expect(mcpEntry(env, "linux")).toEqual({ command: "tribalmemory-mcp", args: [] });
  });

  it("is absolute node and script paths when the bin is not on PATH, or not executable", () => {
    const fallback = { command: process.execPath, args: [MCP_BIN] };
    expect(mcpEntry({ PATH: join(dir, "empty") }, "linux")).toEqual(fallback);
    expect(mcpEntry({}, "linux")).toEqual(fallback);
    bin("noexec", 0o644);
    expect(mcpEntry({ PATH: join(dir, "noexec") }, "linux")).toEqual(fallback);
  });

  it("finds a Windows shim by PATHEXT with ; separators", () => {
    mkdirSync(join(dir, "npm"));
    writeFileSync(join(dir, "npm", `${MCP_COMMAND}.CMD`), "@echo off\r\n");
    const env = { Path: `C:\\nowhere;${join(dir, "npm")}`, PATHEXT: ".EXE;.CMD" };
    expect(findOnPath(MCP_COMMAND, env, "win32")).toBe(join(dir, "npm", `${MCP_COMMAND}.CMD`));
  });

  it("keeps a non-default TRIBAL_MEMORY_HOME in the entry's env", () => {
    bin("bin", 0o755);
    const entry = mcpEntry({ PATH: join(dir, "bin"), TRIBAL_MEMORY_HOME: join(dir, "home") }, "linux");
    expect(entry).toEqual({ command: MCP_COMMAND, args: [], env: { TRIBAL_MEMORY_HOME: join(dir, "home") } });
  });

  it("points the fallback at a script that exists in this checkout", () => {
    expect(existsSync(MCP_BIN)).toBe(true);
  });
});
