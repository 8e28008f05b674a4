import { appendFileSync, mkdirSync, renameSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { RunningDaemon } from "@tribalmemory/daemon/daemon";
import { afterAll, describe, expect, it } from "vitest";
import { api, startTestDaemon, tempHome, waitFor } from "./helpers.ts";

const claudeLine = (uuid: string, role: "user" | "assistant", text: string) =>
  `${JSON.stringify({ type: role, uuid, sessionId: "abc", timestamp: new Date().toISOString(), message: { role, content: role === "user" ? text : [{ type: "text", text }] } })}\n`;
const codexLine = (role: string, text: string) =>
  `${JSON.stringify({ timestamp: new Date().toISOString(), type: "response_item", payload: { type: "message", role, content: [{ type: role === "user" ? "input_text" : "output_text", text }] } })}\n`;

type Search = { results: { content: string; session_id: string }[] };

describe("transcript watcher", () => {
  const h = tempHome();
  const project = join(h.home, ".claude", "projects", "-home-me-app");
  const codexDir = join(h.home, ".codex", "sessions", "2026", "11", "24");
  const file = join(project, "sess-a.jsonl");
  let daemon: RunningDaemon;
  afterAll(async () => {
    await daemon?.close();
    h.cleanup();
  });
  const messageCount = () =>
    (daemon.store.db.prepare("SELECT count(*) AS n FROM session_messages").get() as { n: number }).n;
  const search = async (q: string) =>
    (await api<Search>(daemon.url, "GET", `/v1/sessions/search?query=${encodeURIComponent(q)}&limit=5`)).body
      .results;
  const found = (q: string, needle: string) =>
    waitFor(async () => (await search(q)).some((r) => r.content.includes(needle)), 8000);

  it("reads existing transcripts, tolerating bad lines, and follows appends", async () => {
    mkdirSync(project, { recursive: true });
    writeFileSync(
      file,
      [
        claudeLine("u1", "user", "where is the kafka topic config"),
        "this is not json\n",
        `${JSON.stringify({ type: "summary", summary: "x" })}\n`,
        `${JSON.stringify({ type: "future-record-type", data: 1 })}\n`,
        claudeLine("u2", "assistant", "kafka topics live in infra/topics.yaml"),
      ].join(""),
    );
    daemon = await startTestDaemon(h.env, true);
    await found("kafka topics", "infra/topics.yaml");
    expect(messageCount()).toBe(2);
    expect(daemon.sessions.watcher?.stats.skipped.not_json).toBe(1);
    expect(daemon.sessions.watcher?.stats.skipped.unknown_record).toBe(2);

    appendFileSync(file, claudeLine("u3", "user", "and the zookeeper ensemble"));
    await found("zookeeper", "zookeeper ensemble");

    // A partial last line is left until its newline arrives.
    const partial = claudeLine("u4", "assistant", "zookeeper runs three nodes in rack seven");
    appendFileSync(file, partial.slice(0, 30));
    await new Promise((r) => setTimeout(r, 300));
    await daemon.sessions.watcher?.idle();
    expect(messageCount()).toBe(3);
    appendFileSync(file, partial.slice(30));
    await found("rack seven", "rack seven");
    expect(messageCount()).toBe(4);
  });

  it("follows Codex sessions in nested date folders created after start", async () => {
    mkdirSync(codexDir, { recursive: true });
    const f = join(codexDir, "rollout-2026-11-24-xyz.jsonl");
    writeFileSync(
      f,
      `${JSON.stringify({ type: "session_meta", payload: { id: "xyz" } })}\n${codexLine("user", "codex question about terraform state locking")}`,
    );
    await found("terraform locking", "terraform state locking");
    const hit = (await search("terraform")).find((r) => r.content.includes("terraform"));
    expect(hit?.session_id).toBe("codex:rollout-2026-11-24-xyz");
  });

  it("survives a 10 MB line, truncation, rotation and deletion", async () => {
    appendFileSync(file, claudeLine("big", "user", `blob ${"A".repeat(10 * 1024 * 1024)}`));
    appendFileSync(file, claudeLine("u5", "assistant", "after the blob comes the grafana dashboard"));
    await found("grafana dashboard", "grafana dashboard");

    // Truncated and rewritten: read again from the start; known uuids are not repeated.
    const before = messageCount();
    truncateSync(file, 0);
    appendFileSync(file, claudeLine("u1", "user", "where is the kafka topic config"));
    appendFileSync(file, claudeLine("u6", "user", "prometheus alert rules after truncation"));
    await found("prometheus alert", "prometheus alert rules");
    expect(messageCount()).toBe(before + 1);

    // Rotated: the old file moves away, a new one takes the name.
    renameSync(file, `${file}.1`);
    writeFileSync(file, claudeLine("u7", "user", "loki retention after rotation"));
    await found("loki retention", "loki retention");

    // Renamed to another .jsonl name: the same session continues, nothing is read twice.
    const renamed = join(project, "sess-a-renamed.jsonl");
    const count = messageCount();
    renameSync(file, renamed);
    appendFileSync(renamed, claudeLine("u8", "user", "tempo traces after the rename"));
    await found("tempo traces", "tempo traces");
    await daemon.sessions.watcher?.idle();
    expect(messageCount()).toBe(count + 1);
    const hit = (await search("tempo traces")).find((r) => r.content.includes("tempo"));
    expect(hit?.session_id).toBe("claude-code:sess-a");
    renameSync(renamed, file);

    rmSync(file);
    await waitFor(
      async () => !daemon.store.db.prepare("SELECT 1 FROM session_watch_files WHERE path = ?").get(file),
      5000,
    );
  });

  it("a restart neither loses nor repeats a message", async () => {
    writeFileSync(file, claudeLine("r1", "user", "restart check one"));
    await found("restart check", "restart check one");
    await daemon.sessions.watcher?.idle();
    const before = messageCount();
    await daemon.close();
    // Written while the daemon is down.
    appendFileSync(file, claudeLine("r2", "assistant", "written while the daemon was down about vault"));
    daemon = await startTestDaemon(h.env, true);
    await found("vault", "while the daemon was down");
    await daemon.sessions.watcher?.idle();
    expect(messageCount()).toBe(before + 1);
  });
});
