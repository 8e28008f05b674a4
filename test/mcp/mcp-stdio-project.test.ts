import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestDaemon, tempHome } from "../helpers/daemon.ts";
import { callTool, gitRepo, rootsClient } from "./helpers.ts";

const MCP_BIN = fileURLToPath(new URL("../../cli/bin/tribalmemory-mcp.js", import.meta.url));

describe("project scopes through tribalmemory-mcp on stdio", () => {
  const home = tempHome("tm-mcp-stdio-project-");
  let daemon: Awaited<ReturnType<typeof startTestDaemon>>;
  const clients: Client[] = [];
  const transport = (cwd: string) =>
    new StdioClientTransport({
      command: process.execPath,
      args: [MCP_BIN],
      cwd,
      env: {
        PATH: process.env.PATH ?? "",
        HOME: home.home,
        TRIBAL_MEMORY_HOME: home.home,
        TRIBAL_MEMORY_URL: daemon.url,
      },
      stderr: "pipe",
    });

  beforeAll(async () => {
    daemon = await startTestDaemon(home.home);
  }, 60_000);
  afterAll(async () => {
    for (const c of clients) await c.close();
    await daemon?.close();
    home.cleanup();
  });

  it("a client announcing roots: the project is the root's git remote, whatever folder the server started in", async () => {
    const repo = gitRepo(home.home, "api", "https://ci-bot:secret-token@GitHub.com/Acme/API.git");
    const scratch = join(home.home, "scratch");
    mkdirSync(scratch);
    const agent = await rootsClient(transport(scratch), [repo]);
    clients.push(agent.client);
    const r = await callTool(agent.client, "tribal_remember", {
      content: "The API runs on port 8443 in staging",
    });
    expect(r.isError).toBeFalsy();
    // Normalised, and the credential in the remote URL never reaches a memory.
    expect(r.structuredContent.project).toBe("github.com/acme/api");
    const stored = await daemon.api.get(`/v1/memories/${r.structuredContent.memory_id}`);
    expect(stored.body.project).toBe("github.com/acme/api");
    expect(JSON.stringify(stored.body)).not.toContain("secret-token");
  }, 30_000);

  it("a client without roots: the project of the folder the agent started the server in", async () => {
    const web = gitRepo(home.home, "web", "git@github.com:Acme/Web.git");
    const client = new Client({ name: "plain-client", version: "1.0.0" });
    await client.connect(transport(web));
    clients.push(client);
    const r = await callTool(client, "tribal_remember", { content: "The web app is built with Vite" });
    expect(r.structuredContent.project).toBe("github.com/acme/web");
    // Its recall prefers its own project: the API memory, the closer match by score, comes after.
    const query = { query: "which port in staging for the web", limit: 5 };
    const byScore = await callTool(client, "tribal_recall", { ...query, scope: "all" });
    const projectsOf = (r: typeof byScore) =>
      (r.structuredContent.results as { project?: string }[]).map((x) => x.project);
    expect(projectsOf(byScore)[0]).toBe("github.com/acme/api");
    const preferred = await callTool(client, "tribal_recall", query);
    expect(projectsOf(preferred)).toEqual(["github.com/acme/web", "github.com/acme/api"]);
    expect(preferred.structuredContent.project).toBe("github.com/acme/web");
  }, 30_000);
});
