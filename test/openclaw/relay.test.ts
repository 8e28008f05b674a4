import type { RelayDatabase, RunningRelay } from "@tribalmemory/sync-server";
import { api } from "@tribalmemory/sync-server/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import entry from "../../openclaw-plugin/index.ts";
import { loadPluginForTest, type PluginHost } from "../../openclaw-plugin/testing/host.ts";
import { tempHome } from "../helpers/daemon.ts";
import { useTestRelay, workspaceKey } from "../helpers/relay.ts";

/**
 * memory-tribal with `apiKey`: a cloud agent's OpenClaw talks to the relay with a Bearer key,
 * and what it stores lands in that key's workspace only.
 */
describe("memory-tribal against a real relay", () => {
  let db: RelayDatabase;
  let relay: RunningRelay;
  let key: string;
  let readOnly: string;
  let otherKey: string;
  let host: PluginHost;
  // An empty home: a relay client must not need (or send) a daemon's local token.
  const h = tempHome("tm-openclaw-relay-");

  useTestRelay(async (d, r) => {
    db = d;
    relay = r;
    ({ key } = await workspaceKey(db, "openclaw", ["read", "write"]));
    ({ key: readOnly } = await workspaceKey(db, "openclaw-ro", ["read"]));
    ({ key: otherKey } = await workspaceKey(db, "openclaw-other", ["read", "write"]));
  });
  beforeAll(() => {
    process.env.TM_TEST_OPENCLAW_KEY = key;
    // The key through `${ENV}` expansion, as the README's config snippet has it.
    host = loadPluginForTest(entry, {
      serverUrl: relay.url,
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the plugin's environment reference syntax
      apiKey: "${TM_TEST_OPENCLAW_KEY}",
      home: h.home,
      minRelevance: 0,
    });
  });
  afterAll(() => {
    host?.close();
    delete process.env.TM_TEST_OPENCLAW_KEY;
    h.cleanup();
  });

  it("/remember, auto-capture and tribal_forget write to the key's workspace, and auto-recall reads it", async () => {
    const reply = await host.command("/remember The mobile app's release train leaves every second Thursday");
    const id = /memory ([0-9a-f-]{36})/.exec(reply.text ?? "")?.[1];
    expect(reply.text).toMatch(/^Remembered/);
    const stored = await api(relay.url, "GET", `/v1/memories/${id}`, undefined, key);
    expect(stored.status).toBe(200);
    expect(stored.body).toMatchObject({ source_type: "user_explicit", source_instance: "openclaw:main" });
    // Another workspace's key does not see it.
    expect((await api(relay.url, "GET", `/v1/memories/${id}`, undefined, otherKey)).status).toBe(404);

    await host.hooks().runAgentEnd(
      {
        messages: [{ role: "user", content: "We decided to sign release builds with the hardware key." }],
        success: true,
      },
      { sessionKey: "relay-1" },
    );
    const listed = await api<{ memories: { content: string }[] }>(
      relay.url,
      "GET",
      "/v1/memories?tags=auto-capture",
      undefined,
      key,
    );
    expect(listed.body.memories.map((m) => m.content)).toEqual([
      "We decided to sign release builds with the hardware key.",
    ]);

    const recalled = await host
      .hooks()
      .runBeforePromptBuild(
        { prompt: "when does the mobile release train leave?", messages: [] },
        { sessionKey: "relay-2" },
      );
    expect(recalled?.prependContext).toContain("second Thursday");

    await host.tool("tribal_forget", { sessionKey: "relay-3" }).execute("c", { memory_id: id });
    expect((await api(relay.url, "GET", `/v1/memories/${id}`, undefined, key)).body.deleted).toBe(true);
  });

  it("a read-only key's write and a revoked or wrong key answer with the relay's code", async () => {
    const ro = loadPluginForTest(entry, { serverUrl: relay.url, apiKey: readOnly, home: h.home });
    try {
      expect((await ro.command("/remember Read-only keys cannot write")).text).toMatch(
        /^Could not remember that: (FORBIDDEN|INSUFFICIENT_SCOPE)/,
      );
    } finally {
      ro.close();
    }
    const wrong = loadPluginForTest(entry, { serverUrl: relay.url, apiKey: "tm_live_wrong", home: h.home });
    try {
      expect((await wrong.command("/remember Wrong keys cannot write")).text).toMatch(
        /^Could not remember that: UNAUTHENTICATED/,
      );
      await expect(wrong.tool("tribal_recall", {}).execute("c", { query: "anything" })).rejects.toThrow(
        /^UNAUTHENTICATED/,
      );
    } finally {
      wrong.close();
    }
  });
});
