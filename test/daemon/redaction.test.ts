import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readOutboxPage } from "@tribalmemory/daemon/store/sync-log-store";
import { applyMemoryChanges, materializeMemory } from "@tribalmemory/shared/memory/document";
import { newMemoryId } from "@tribalmemory/shared/memory/ids";
import { decodeBytes } from "@tribalmemory/shared/sync/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestDaemon, tempHome } from "../helpers/daemon.ts";

type Daemon = Awaited<ReturnType<typeof startTestDaemon>>;

// Assembled at run time so secret scanners do not flag this file.
const j = (...parts: string[]) => parts.join("");
const SECRETS = {
  aws: j("AKIA", "Z7QW3RTY5UIO9PLK"),
  github: j("ghp_", "Xq7Lm2Np9Rs4Tu6Vw8Yz1Ab3Cd5Ef7Gh9Ij0K"),
  pem: j(
    "-----BEGIN OPENSSH PRIVATE KEY-----\n",
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n",
    "-----END OPENSSH PRIVATE KEY-----",
  ),
  stripe: j("sk_", "live_", "51HqLyjWDarjtT1zdp7dcAbCd"),
  password: "Tr0ub4dor&3xyz",
  bearer: j("9f8e7d6c5b4a", "39281706f5e4d3c2b1a0"),
  anthropic: j("sk-ant-", "api03-", "Qw3Er5Ty7Ui9Op1As3Df5Gh7Jk9Lz"),
};
const ALL = Object.values(SECRETS);
/** A distinctive piece of each secret: a PEM is checked by its body line. */
const needles = ALL.map((s) => (s.startsWith("-----BEGIN") ? s.split("\n")[1] : s));
const noSecret = (text: string) => {
  for (const n of needles) expect(text).not.toContain(n);
};

describe("secrets in content are redacted before they are stored, exported or synced", () => {
  const home = tempHome();
  let d: Daemon;
  beforeAll(async () => {
    d = await startTestDaemon(home.home);
  });
  afterAll(async () => {
    await d.close();
    home.cleanup();
  });

  it("remember replaces an AWS key and says so", async () => {
    const r = await d.api.post("/v1/remember", {
      content: `CI deploys with AWS_ACCESS_KEY_ID=${SECRETS.aws} from the shared vault`,
    });
    expect(r.status).toBe(201);
    expect(r.body.redacted).toEqual([{ kind: "aws_access_key", count: 1 }]);
    const stored = (await d.api.get(`/v1/memory/${r.body.memory_id}`)).body;
    expect(stored.content).toBe(
      "CI deploys with AWS_ACCESS_KEY_ID=[REDACTED:aws_access_key] from the shared vault",
    );
  });

  it("batch reports each memory's redactions and a total", async () => {
    const r = await d.api.post("/v1/remember/batch", {
      memories: [
        { content: `release bot uses ${SECRETS.github}` },
        { content: "the release bot posts to #releases" },
        { content: `claude key ${SECRETS.anthropic} and db password=${SECRETS.password}` },
      ],
    });
    expect(r.status).toBe(201);
    expect(r.body.results[0].redacted).toEqual([{ kind: "github_token", count: 1 }]);
    expect(r.body.results[1].redacted).toBeUndefined();
    expect(r.body.redacted).toEqual([
      { kind: "github_token", count: 1 },
      { kind: "anthropic_key", count: 1 },
      { kind: "password", count: 1 },
    ]);
  });

  it("correct redacts the corrected content", async () => {
    const original = await d.api.post("/v1/remember", { content: "the deploy key lives in 1Password" });
    const r = await d.api.post("/v1/correct", {
      original_id: original.body.memory_id,
      corrected_content: `the deploy key is\n${SECRETS.pem}`,
    });
    expect(r.status).toBe(201);
    expect(r.body.redacted).toEqual([{ kind: "private_key", count: 1 }]);
    expect(r.body.memory.content).toBe("the deploy key is\n[REDACTED:private_key]");
  });

  it("import (bundle and JSONL) redacts and reports totals", async () => {
    const bundle = await d.api.post("/v1/import", {
      bundle: {
        manifest: { schema_version: "1.0" },
        entries: [
          { id: newMemoryId(), content: `billing uses stripe ${SECRETS.stripe}` },
          { content: "a memory with nothing to hide" },
        ],
      },
    });
    expect(bundle.status).toBe(201);
    expect(bundle.body).toMatchObject({ imported: 2, redacted: [{ kind: "stripe_key", count: 1 }] });
    const lines = await d.api.raw(
      "POST",
      "/v1/import",
      `{"content":"curl -H 'Authorization: Bearer ${SECRETS.bearer}' https://api.internal"}\n`,
      "application/x-ndjson",
    );
    expect(lines.status).toBe(201);
    expect(lines.body.redacted).toEqual([{ kind: "bearer_token", count: 1 }]);
  });

  it("sessions ingest redacts transcript messages", async () => {
    const r = await d.api.post("/v1/sessions/ingest", {
      session_id: "s-redaction",
      messages: [
        { role: "user", content: `here is my key ${SECRETS.aws}, please configure the CLI` },
        { role: "assistant", content: "configured the CLI profile" },
      ],
    });
    expect(r.status).toBe(201);
    expect(r.body.redacted).toEqual([{ kind: "aws_access_key", count: 1 }]);
    const search = await d.api.get("/v1/sessions/search?query=configure%20the%20CLI%20key");
    const text = JSON.stringify(search.body);
    expect(text).toContain("[REDACTED:aws_access_key]");
    noSecret(text);
  });

  it("no secret is stored, listed, exported, in the sync outbox or anywhere in the data files", async () => {
    const listed = await d.api.get("/v1/memories?limit=500");
    expect(listed.body.memories.length).toBeGreaterThanOrEqual(8);
    noSecret(JSON.stringify(listed.body));

    const exported = await d.api.get("/v1/export?format=jsonl");
    expect(exported.status).toBe(200);
    expect(String(exported.body)).toContain("[REDACTED:");
    noSecret(String(exported.body));

    // What the sync client would push: every change in the outbox, materialised as the relay would.
    const page = readOutboxPage(d.store, 10_000, 64 * 1024 * 1024);
    const byDoc = new Map<string, Uint8Array[]>();
    for (const c of page.changes) byDoc.set(c.doc_id, [...(byDoc.get(c.doc_id) ?? []), decodeBytes(c.bytes)]);
    expect(byDoc.size).toBeGreaterThanOrEqual(8);
    const synced = [...byDoc.values()].map(
      (changes) => materializeMemory(applyMemoryChanges(null, changes, "00".repeat(16)).doc).content,
    );
    expect(synced.join("\n")).toContain("[REDACTED:");
    noSecret(synced.join("\n"));

    // Rows, FTS, session chunks: SQLite keeps text uncompressed, so a raw scan finds any copy.
    d.store.db.pragma("wal_checkpoint(TRUNCATE)");
    const dataDir = join(home.home, "data");
    for (const f of readdirSync(dataDir).filter((n) => n.startsWith("memories.db"))) {
      const raw = readFileSync(join(dataDir, f)).toString("latin1");
      for (const n of needles) expect(raw.includes(n), `${n.slice(0, 12)}… in ${f}`).toBe(false);
    }
  });
});

describe("redaction.enabled: false keeps content as written", () => {
  const home = tempHome();
  let d: Daemon;
  beforeAll(async () => {
    writeFileSync(join(home.home, "config.yaml"), "redaction:\n  enabled: false\n");
    d = await startTestDaemon(home.home);
  });
  afterAll(async () => {
    await d.close();
    home.cleanup();
  });

  it("stores the key verbatim and reports nothing", async () => {
    const r = await d.api.post("/v1/remember", { content: `test fixture key ${SECRETS.aws}` });
    expect(r.status).toBe(201);
    expect(r.body.redacted).toBeUndefined();
    expect((await d.api.get(`/v1/memory/${r.body.memory_id}`)).body.content).toBe(
      `test fixture key ${SECRETS.aws}`,
    );
  });
});
