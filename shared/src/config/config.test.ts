import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { TribalError } from "../errors.ts";
import { loadDaemonConfig } from "./config.ts";

const tmp = mkdtempSync(join(tmpdir(), "tm-config-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const env = { HOME: tmp, TRIBAL_MEMORY_HOME: join(tmp, "home") };

function load(name: string, yaml: string) {
  const path = join(tmp, name);
  writeFileSync(path, yaml);
  return { path, load: () => loadDaemonConfig({ configPath: path }, env) };
}

function configError(fn: () => unknown): TribalError {
  try {
    fn();
  } catch (err) {
    if (err instanceof TribalError) return err;
    throw err;
  }
  throw new Error("expected CONFIG_INVALID");
}

/** The spec's keys, as its users write them: one file for the daemon and the relay. */
const SPEC_CONFIG = `instance_id: build-box
db:
  provider: postgres
  uri: postgres://tribal_app@db.internal:5432/tribal
server:
  host: 127.0.0.1
  port: 18811
embedding:
  provider: fastembed
auth:
  enabled: true
  require_key: true
sync:
  enabled: true
  cloud_url: https://relay.example
  api_key: tm_live_example
  interval: 12
`;

describe("config file", () => {
  it("a spec-style file (instance_id, db, server, embedding fastembed, auth, sync.interval) is accepted and mapped for the daemon and the relay", () => {
    const c = load("spec.yaml", SPEC_CONFIG).load();
    expect(c.instanceId).toBe("build-box");
    expect(c.host).toBe("127.0.0.1");
    expect(c.port).toBe(18811);
    expect(c.embedding.provider).toBe("bge-small-en-v1.5");
    expect(c.access.requireToken).toBe(true);
    expect(c.sync).toMatchObject({
      enabled: true,
      cloudUrl: "https://relay.example",
      apiKey: "tm_live_example",
      intervalMs: 12_000,
    });
    expect(c.relay).toEqual({
      host: "127.0.0.1",
      port: 18811,
      database_url: "postgres://tribal_app@db.internal:5432/tribal",
      auth_enabled: true,
    });
  });

  it("db.provider pglite takes a folder; the older relay: keys win over db and server", () => {
    const c = load(
      "pglite.yaml",
      "db: { provider: pglite, uri: ./relay-data, migrate: false }\nserver: { port: 1 }\nrelay: { port: 2, data_dir: ./old }\nauth: { enabled: false }\n",
    ).load();
    expect(c.relay).toEqual({ port: 2, data_dir: "./old", migrate: false, auth_enabled: false });
    const d = load("pglite2.yaml", "db: { provider: pglite }\n").load();
    expect(d.relay).toEqual({});
  });

  it("three mistakes are reported together, each with its file, line, column, key path and what is allowed", () => {
    const { path, load: read } = load(
      "three.yaml",
      [
        "instance_id: laptop", // 1
        "server:", // 2
        "  port: 'eighty'", // 3
        "embedding:", // 4
        "  provider: fastembedd", // 5
        "sync:", // 6
        "  enabled: true", // 7
        "  intervall: 30", // 8
        "",
      ].join("\n"),
    );
    const err = configError(read);
    expect(err.code).toBe("CONFIG_INVALID");
    const lines = err.message.split("\n").slice(1);
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(new RegExp(`^  ${path}:3:9: server\\.port: .*expected number`));
    expect(lines[1]).toMatch(new RegExp(`^  ${path}:5:13: embedding\\.provider: .*"fastembed"`));
    expect(lines[2]).toBe(
      `  ${path}:8:3: sync.intervall: unknown key; allowed here: enabled, cloud_url, api_key, sessions, allow_insecure, interval`,
    );
    expect(err.details?.issues).toHaveLength(3);
  });

  it("rules across keys point at the key: db.provider postgres without a URL, auth that contradicts itself", () => {
    const { path, load: read } = load(
      "rules.yaml",
      "db:\n  provider: postgres\n  uri: ./folder\nauth:\n  enabled: false\n  require_key: true\n",
    );
    const lines = configError(read).message.split("\n").slice(1);
    expect(lines).toEqual([
      `  ${path}:3:8: db.uri: provider postgres needs uri: postgres://user@host:5432/db`,
      `  ${path}:6:16: auth.require_key: contradicts auth.enabled: false; drop one of them`,
    ]);
  });

  it("a YAML error (here a key written twice) is CONFIG_INVALID with its line, not a stack", () => {
    const { path, load: read } = load("broken.yaml", "server:\n  port: 1\n  port: 2\n");
    const err = configError(read);
    expect(err.code).toBe("CONFIG_INVALID");
    expect(err.message.split("\n").slice(1)).toEqual([`  ${path}:3:3: (document): Map keys must be unique`]);
  });

  it("a document that is not a mapping is one issue at line 1", () => {
    const { path, load: read } = load("list.yaml", "- a\n- b\n");
    expect(configError(read).message.split("\n")[1]).toMatch(new RegExp(`^  ${path}:1:1: \\(document\\): `));
  });
});
