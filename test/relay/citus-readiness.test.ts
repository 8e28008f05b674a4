import { readFileSync } from "node:fs";
import { createMemoryDoc, newActorId } from "@tribalmemory/shared/memory/document";
import { encodeBytes, SYNC_PROTOCOL_VERSION } from "@tribalmemory/shared/sync/protocol";
import { sampleMemory } from "@tribalmemory/shared/testing/sample-memory";
import {
  migrateSchema,
  openDatabase,
  type RelayDatabase,
  type Sql,
} from "@tribalmemory/sync-server/store/database";
import { citusDistributionSql, TABLE_PLACEMENT } from "@tribalmemory/sync-server/store/distribution";
import { rescheduleExpiry, workspacesWithExpired } from "@tribalmemory/sync-server/store/pg-expiry";
import { linkCustomerIn, planHistory, setPlan } from "@tribalmemory/sync-server/store/pg-plans";
import { api, startTestRelay } from "@tribalmemory/sync-server/testing";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { AccountClient } from "../helpers/account-client.ts";
import { checkStatement } from "../helpers/tenant-statements.ts";

/**
 * The relay's schema and statements are ready for Citus (issue 14): every table is placed
 * (distributed by workspace, reference, or local: sync-server/src/store/distribution.ts), every
 * distributed table's primary key and unique constraints include its distribution column,
 * foreign keys stay inside one workspace, and every statement the relay sends pins each
 * distributed table it touches to one workspace. A static and catalog check on plain
 * PostgreSQL: no Citus runs here (README "Scaling the relay" says what was not run).
 */

const adminUrl = process.env.TEST_DATABASE_URL;
const appUrl = process.env.TEST_APP_DATABASE_URL;
const hasPostgres = Boolean(adminUrl && appUrl);

/**
 * Statements that may cross workspaces, and why. Each is matched by its normalized text; one
 * that stops being sent fails the test too, so the list cannot go stale.
 */
const CROSS_WORKSPACE_ALLOWED: { match: RegExp; why: string }[] = [
  {
    match: /^select workspace_id from expiry_schedule where next_ms <= \$1/,
    why: "the expiry sweep finds the workspaces with something to forget, then works inside each one",
  },
  {
    match:
      /\bfrom memberships m? ?(join workspaces w on w\.id = m\.workspace_id )?where (m\.)?user_id = tm_user\(\)/,
    why: "a logged-in user's own workspaces (one row per membership): a dashboard page, not an agent's request; Citus asks every shard",
  },
];

/** Functions of the schema whose statements may cross workspaces, and why. */
const FUNCTIONS_ALLOWED: Record<string, string> = {
  tm_invitation_lookup:
    "accepting an invitation finds it by its token's hash before its workspace is known (indexed; Citus asks every shard, once per acceptance)",
  tm_count_live_memories:
    "a statement trigger joining its transition table on workspace_id; a relay statement writes one workspace's memories, so it updates that one row",
};

/** A RelayDatabase that records the text of every statement it runs. */
function recording(db: RelayDatabase, log: string[]): RelayDatabase {
  const wrap = (sql: Sql): Sql => ({
    query: (text, params) => {
      log.push(text);
      return sql.query(text, params);
    },
  });
  const asOwner = db.asOwner;
  return {
    ...db,
    tx: (workspaceId, fn) => db.tx(workspaceId, (sql) => fn(wrap(sql))),
    readTx: (workspaceId, fn) => db.readTx(workspaceId, (sql) => fn(wrap(sql))),
    statement: (text, params) => {
      log.push(text);
      return db.statement(text, params);
    },
    ...(asOwner ? { asOwner: (fn) => asOwner((sql) => fn(wrap(sql))) } : {}),
  };
}

/**
 * A daemon's sync session: hello with sessions, a snapshot (or the log replayed) up to live, a
 * push acknowledged.
 */
async function syncOverSocket(url: string, key: string, snapshot: boolean): Promise<void> {
  const ws = new WebSocket(`${url.replace("http", "ws")}/v1/sync`, {
    headers: { authorization: `Bearer ${key}` },
  });
  const got: { type: string; cursor?: number }[] = [];
  const seen = (type: string) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no ${type} message in 10 s: ${JSON.stringify(got)}`)),
        10_000,
      );
      const check = () => {
        if (!got.some((m) => m.type === type)) return;
        clearTimeout(timer);
        resolve();
      };
      ws.on("message", check);
      check();
    });
  ws.on("message", (data) => {
    const m = JSON.parse(data.toString()) as { type: string; cursor?: number };
    got.push(m);
    if (m.type === "changes" || m.type === "snapshot")
      ws.send(JSON.stringify({ type: "applied", cursor: m.cursor }));
  });
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  const hello = { protocol: SYNC_PROTOCOL_VERSION, device: "desktop", actor: newActorId(), cursor: 0 };
  ws.send(JSON.stringify({ type: "hello", ...hello, sessions: { cursor: 0 }, snapshot }));
  await seen("live");
  const change = createMemoryDoc(sampleMemory({ content: "pushed over the socket" }), newActorId()).change;
  const wire = {
    doc_id: change.docId,
    hash: change.hash,
    deps: change.deps,
    bytes: encodeBytes(change.bytes),
  };
  ws.send(JSON.stringify({ type: "push", id: 1, changes: [wire] }));
  await seen("ack");
  ws.close();
}

const oneLine = (sql: string) => sql.replace(/\s+/g, " ").trim().toLowerCase();

describe("the statement check", () => {
  it("accepts statements pinned by a parameter, an insert's column or a join", () => {
    const pinned = [
      "SELECT id FROM memories WHERE workspace_id = $1 AND id = $2",
      "SELECT m.id FROM memories m JOIN memory_entities e ON e.workspace_id = m.workspace_id AND e.memory_id = m.id WHERE m.workspace_id = $1",
      "INSERT INTO usage AS u (workspace_id, period) VALUES ($1, $2) ON CONFLICT (workspace_id, period) DO UPDATE SET queries = u.queries + 1",
      "UPDATE workspaces SET next_seq = next_seq + $2 WHERE id = $1 RETURNING next_seq",
      "SELECT id FROM api_keys WHERE workspace_id = $1 AND id = ANY($2::uuid[])",
      "SELECT a.id FROM audit_log a WHERE a.workspace_id = $1 AND a.key_id IN (SELECT k.id FROM api_keys k WHERE k.workspace_id = a.workspace_id)",
      "SELECT key_id FROM tm_verify_api_key($1)",
      "SELECT workspace_id FROM api_key_lookup WHERE key_hash = $1",
    ];
    for (const sql of pinned) expect([sql, checkStatement(sql).unpinned]).toEqual([sql, []]);
  });

  it("refuses a statement that reads or writes a distributed table of every workspace", () => {
    const cases: [string, string[]][] = [
      ["SELECT count(*) FROM memories WHERE NOT deleted", ["memories"]],
      ["UPDATE api_keys SET last_used_at = now() WHERE id = $1", ["api_keys"]],
      // The outer table is pinned, the subquery's is not.
      [
        "SELECT id FROM audit_log WHERE workspace_id = $1 AND key_id IN (SELECT id FROM api_keys WHERE user_id = $2)",
        ["api_keys"],
      ],
      // A join on another column does not pin the second table.
      [
        "SELECT m.id FROM memories m JOIN entities e ON e.name = m.id WHERE m.workspace_id = $1",
        ["entities"],
      ],
      ["DELETE FROM changes WHERE seq < $1", ["changes"]],
      ["SELECT id FROM memories WHERE workspace_id = $1 UNION ALL SELECT id FROM memories", ["memories"]],
    ];
    for (const [sql, unpinned] of cases) expect([sql, checkStatement(sql).unpinned]).toEqual([sql, unpinned]);
    // In a function body: migration 5's tm_verify_api_key read the key by its id alone.
    const body = "RETURN QUERY SELECT k.id, k.scopes FROM api_keys k WHERE k.id = found_key";
    expect(checkStatement(body, "found_[a-z_]+").unpinned).toEqual(["api_keys"]);
    expect(checkStatement(`${body} AND k.workspace_id = found_workspace`, "found_[a-z_]+").unpinned).toEqual(
      [],
    );
  });
});

describe.skipIf(!hasPostgres)("the schema on Citus", () => {
  let db: RelayDatabase;
  // The catalog, read as the app role after every migration ran.
  const query = <T>(text: string) => db.tx(null, (sql) => sql.query<T>(text));

  beforeAll(async () => {
    db = await openDatabase({ databaseUrl: appUrl, adminDatabaseUrl: adminUrl });
  });
  afterAll(async () => {
    await db?.close();
  });

  it("places every table, and only tables that exist", async () => {
    const tables = (
      await query<{ relname: string }>(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY 1",
      )
    ).map((r) => r.relname);
    const unplaced = tables.filter((t) => !(t in TABLE_PLACEMENT));
    expect(unplaced, "add these tables to TABLE_PLACEMENT (sync-server/src/store/distribution.ts)").toEqual(
      [],
    );
    expect(Object.keys(TABLE_PLACEMENT).filter((t) => !tables.includes(t))).toEqual([]);
  });

  it("every unique index of a distributed table includes its distribution column", async () => {
    const indexes = await query<{ table: string; index: string; columns: string[] }>(
      `SELECT t.relname AS table, i.relname AS index,
         array(SELECT a.attname::text FROM unnest(x.indkey) WITH ORDINALITY k(n, o)
               JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.n ORDER BY k.o) AS columns
       FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
       JOIN pg_namespace n ON n.oid = t.relnamespace
       WHERE n.nspname = 'public' AND x.indisunique`,
    );
    const wrong = indexes.filter((ix) => {
      const p = TABLE_PLACEMENT[ix.table];
      return p?.kind === "distributed" && !ix.columns.includes(p.column);
    });
    expect(wrong.map((ix) => `${ix.index} (${ix.columns.join(", ")})`)).toEqual([]);
    // The check sees primary keys and the columns in order: migration 13's key of api_keys.
    expect(
      indexes.some((ix) => ix.index === "api_keys_pkey" && ix.columns.join() === "workspace_id,id"),
    ).toBe(true);
  });

  it("foreign keys stay inside one workspace and never point from a reference table to a distributed one", async () => {
    const fks = await query<{ name: string; from: string; to: string; cols: string[]; refcols: string[] }>(
      `SELECT c.conname AS name, c.conrelid::regclass::text AS from, c.confrelid::regclass::text AS to,
         array(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(n, o)
               JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.o) AS cols,
         array(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY k(n, o)
               JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.o) AS refcols
       FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
       WHERE c.contype = 'f' AND n.nspname = 'public'`,
    );
    expect(fks.length).toBeGreaterThan(10);
    const wrong = fks.filter((fk) => {
      const from = TABLE_PLACEMENT[fk.from];
      const to = TABLE_PLACEMENT[fk.to];
      if (!from || !to) return true;
      if (from.kind === "distributed" && to.kind === "distributed") {
        // The referencing distribution column must match the referenced one, position by position.
        const at = fk.cols.indexOf(from.column);
        return at < 0 || fk.refcols[at] !== to.column;
      }
      if (from.kind === "distributed") return to.kind !== "reference";
      if (from.kind === "reference") return to.kind !== "reference";
      return to.kind !== "local";
    });
    expect(wrong.map((fk) => `${fk.name}: ${fk.from}(${fk.cols}) → ${fk.to}(${fk.refcols})`)).toEqual([]);
  });

  it("every statement in the schema's functions and triggers pins its distributed tables too", async () => {
    const functions = await query<{ name: string; body: string }>(
      `SELECT p.proname AS name, p.prosrc AS body FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
       JOIN pg_language l ON l.oid = p.prolang
       WHERE n.nspname = 'public' AND l.lanname IN ('sql', 'plpgsql') ORDER BY 1`,
    );
    expect(functions.map((f) => f.name)).toEqual(
      expect.arrayContaining(["tm_verify_api_key", "tm_record_request"]),
    );
    // Arguments, variables and the trigger's row stand for one workspace's value.
    const variables = "p_[a-z_]+|found_[a-z_]+|new\\.[a-z_]+|old\\.[a-z_]+";
    const crossing = functions.flatMap((f) =>
      f.body
        .split(";")
        .map((statement) => ({
          name: f.name,
          statement,
          tables: checkStatement(statement, variables).unpinned,
        }))
        .filter((c) => c.tables.length),
    );
    const unpinned = crossing
      .filter((c) => !FUNCTIONS_ALLOWED[c.name])
      .map((c) => `${c.name}: ${c.tables.join(", ")}: ${oneLine(c.statement)}`);
    expect(unpinned).toEqual([]);
    // An allowance whose function no longer crosses workspaces goes.
    const stale = Object.keys(FUNCTIONS_ALLOWED).filter((f) => !crossing.some((c) => c.name === f));
    expect(stale).toEqual([]);
  });

  it("the README distributes every table as distribution.ts places it", () => {
    const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
    const missing = citusDistributionSql().filter((line) => !readme.includes(line));
    expect(missing).toEqual([]);
  });
});

describe.skipIf(!hasPostgres)("the relay's statements on Citus", () => {
  const log: string[] = [];
  let raw: RelayDatabase;
  let db: RelayDatabase;
  let relay: Awaited<ReturnType<typeof startTestRelay>>;

  beforeAll(async () => {
    raw = await openDatabase({ databaseUrl: appUrl, adminDatabaseUrl: adminUrl });
    db = recording(raw, log);
    relay = await startTestRelay(db);
  });
  afterAll(async () => {
    await relay?.close();
    await raw?.close();
  });

  it("every statement of a day's work pins each distributed table it touches to one workspace", async () => {
    const stamp = `${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
    const owner = new AccountClient(relay.url);
    const { workspace } = await owner.signup(`citus-owner-${stamp}@example.com`);
    const ws = workspace?.id as string;
    const ok = async (what: string, res: Promise<{ status: number; body: unknown }>) => {
      const r = await res;
      expect([what, r.status < 400 ? "ok" : JSON.stringify(r.body)]).toEqual([what, "ok"]);
      return r.body as unknown;
    };
    const made = await ok(
      "create key",
      owner.call("POST", `/v1/workspaces/${ws}/keys`, { name: "agent", scopes: ["admin"] }),
    );
    const key = (made as { key: string }).key;
    const call = (method: string, path: string, body?: unknown) => api(relay.url, method, path, body, key);

    const first = await ok(
      "remember",
      call("POST", "/v1/remember", {
        content: "Priya owns the billing-service deploys on Fridays",
        source_type: "user_explicit",
        tags: ["ops"],
        ttl: "1h",
      }),
    );
    const memoryId = (first as { memory_id: string }).memory_id;
    await ok(
      "remember batch",
      call("POST", "/v1/remember/batch", {
        memories: [
          { content: "The gateway restarts after the quokka rotation" },
          { content: "Lunch is at noon" },
        ],
      }),
    );
    await ok("recall", call("POST", "/v1/recall", { query: "who deploys billing-service" }));
    await ok(
      "correct",
      call("POST", "/v1/correct", { original_id: memoryId, corrected_content: "Priya deploys on Thursdays" }),
    );
    await ok("memories", call("GET", "/v1/memories?limit=5"));
    await ok("memory", call("GET", `/v1/memories/${memoryId}`));
    await ok("history", call("GET", `/v1/memories/${memoryId}/history`));
    const known = (await ok("entities", call("GET", "/v1/entities"))) as { entities: { name: string }[] };
    const entity = encodeURIComponent(known.entities[0]?.name ?? "none");
    await ok("graph", call("GET", `/v1/graph?entity=${entity}`));
    await ok("entity memories", call("GET", `/v1/entities/${entity}/memories`));
    await ok("stats", call("GET", "/v1/stats"));
    await ok("usage", call("GET", "/v1/usage"));
    await ok("audit", call("GET", "/v1/audit?action=key."));
    // JSON lines, not one JSON document.
    const exported = await fetch(`${relay.url}/v1/export`, { headers: { authorization: `Bearer ${key}` } });
    expect([exported.status, (await exported.text()).length > 0]).toEqual([200, true]);
    await ok(
      "sessions ingest",
      call("POST", "/v1/sessions/ingest", {
        session_id: "s-1",
        messages: [
          { id: "m1", role: "user", content: "how do we rotate the zanzibar credentials" },
          { id: "m2", role: "assistant", content: "run the quokka rotation script" },
        ],
      }),
    );
    await ok("sessions search", call("GET", "/v1/sessions/search?query=zanzibar"));
    const change = createMemoryDoc(sampleMemory({ content: "pushed from a daemon" }), newActorId()).change;
    await ok(
      "sync push",
      call("POST", "/v1/sync/push", {
        device: "laptop",
        changes: [
          { doc_id: change.docId, hash: change.hash, deps: change.deps, bytes: encodeBytes(change.bytes) },
        ],
      }),
    );
    await ok("sync pull", call("POST", "/v1/sync/pull", { cursor: 0, limit: 100 }));
    await syncOverSocket(relay.url, key, true);
    await syncOverSocket(relay.url, key, false);
    await ok("forget", call("POST", "/v1/forget", { memory_id: memoryId }));
    await ok("purge", call("DELETE", `/v1/memories/${memoryId}?purge=true`));

    // Members: an invitation accepted by a second user, a member's own export.
    const invite = await ok(
      "invite",
      owner.call("POST", `/v1/workspaces/${ws}/invitations`, { role: "member" }),
    );
    const member = new AccountClient(relay.url);
    await member.signup(`citus-member-${stamp}@example.com`, undefined, { workspace: false });
    await ok(
      "accept",
      member.call("POST", "/v1/invitations/accept", { token: (invite as { token: string }).token }),
    );
    await ok("members", owner.call("GET", `/v1/workspaces/${ws}/members`));
    const mine = await fetch(`${relay.url}/v1/me/export`, { headers: { cookie: member.cookie ?? "" } });
    expect([mine.status, (await mine.text()).length > 0]).toEqual([200, true]);
    await ok("workspaces", owner.call("GET", "/v1/workspaces"));
    const memberId = (await ok("me", member.call("GET", "/v1/auth/me"))) as { user: { id: string } };
    await ok(
      "member role",
      owner.call("PATCH", `/v1/workspaces/${ws}/members/${memberId.user.id}`, { role: "viewer" }),
    );
    await ok("invitations", owner.call("GET", `/v1/workspaces/${ws}/invitations`));
    const second = await ok(
      "invite again",
      owner.call("POST", `/v1/workspaces/${ws}/invitations`, { role: "viewer" }),
    );
    await ok(
      "revoke invitation",
      owner.call(
        "DELETE",
        `/v1/workspaces/${ws}/invitations/${(second as { invitation: { id: string } }).invitation.id}`,
      ),
    );
    await ok("rename", owner.call("PATCH", `/v1/workspaces/${ws}`, { name: "renamed" }));
    await ok("remove member", owner.call("DELETE", `/v1/workspaces/${ws}/members/${memberId.user.id}`));
    await ok(
      "login",
      new AccountClient(relay.url).call("POST", "/v1/auth/login", {
        email: `citus-owner-${stamp}@example.com`,
        password: "correct horse battery",
      }),
    );
    await ok("embed", call("POST", "/v1/embed", { texts: ["billing deploys"] }));
    await ok("logout", member.call("POST", "/v1/auth/logout", {}));

    // Operator paths: a plan change, a billing customer, the expiry sweep.
    await setPlan(db, ws, { plan: "pro", source: "admin" });
    await db.tx(ws, (sql) => linkCustomerIn(sql, ws, "stripe", `cus_${stamp}`, `sub_${stamp}`));
    await planHistory(db, ws);
    await workspacesWithExpired(db, Date.now() + 2 * 3600_000, 10);
    await rescheduleExpiry(db, ws);

    // Keys: revoke one, then delete the workspace (two steps: a token, then the deletion).
    const spare = await ok(
      "spare key",
      owner.call("POST", `/v1/workspaces/${ws}/keys`, { name: "spare", scopes: ["read"] }),
    );
    await ok("revoke", owner.call("DELETE", `/v1/workspaces/${ws}/keys/${(spare as { id: string }).id}`));
    const asked = await ok("delete (ask)", owner.call("DELETE", `/v1/workspaces/${ws}`, {}));
    await ok(
      "delete (confirm)",
      owner.call("DELETE", `/v1/workspaces/${ws}`, {
        confirmation_token: (asked as { confirmation_token: string }).confirmation_token,
      }),
    );

    // billing_customers has no foreign key to workspaces any more (migration 13): the deletion took its row.
    const customers = await db.statement("SELECT 1 FROM billing_customers WHERE workspace_id = $1", [ws]);
    expect(customers).toEqual([]);

    const statements = [...new Set(log.map(oneLine))];
    expect(statements.length).toBeGreaterThan(60);
    const touching = statements.filter((s) => checkStatement(s).tables.length > 0);
    const used = new Set<RegExp>();
    const unpinned = touching.flatMap((s) => {
      const { unpinned: tables } = checkStatement(s);
      if (!tables.length) return [];
      const allowed = CROSS_WORKSPACE_ALLOWED.find((a) => a.match.test(s));
      if (allowed) {
        used.add(allowed.match);
        return [];
      }
      return [`${tables.join(", ")}: ${s}`];
    });
    expect(unpinned).toEqual([]);
    expect(CROSS_WORKSPACE_ALLOWED.filter((a) => !used.has(a.match)).map((a) => a.why)).toEqual([]);
  });
});

describe.skipIf(!hasPostgres)("migration 13 on a populated database", () => {
  const name = `tm_v13_${Date.now()}_${Math.random().toString(36).slice(2, 6)}`;
  const inDatabase = (url: string) => {
    const u = new URL(url as string);
    u.pathname = `/${name}`;
    return u.toString();
  };
  let admin: pg.Client;
  let owner: pg.Client;

  beforeAll(async () => {
    admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    owner = new pg.Client({ connectionString: inDatabase(adminUrl as string) });
    await owner.connect();
  });
  afterAll(async () => {
    await owner?.end();
    await admin?.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin?.end();
  });

  it("keeps every row, and keys, invitations and the audit log work after it", async () => {
    const urls = {
      databaseUrl: inDatabase(appUrl as string),
      adminDatabaseUrl: inDatabase(adminUrl as string),
    };
    // Open at migration 12: a version already recorded is skipped, so 13 is marked applied first.
    await owner.query(
      "CREATE TABLE schema_migrations (version int PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())",
    );
    await owner.query("INSERT INTO schema_migrations (version) VALUES (13)");
    const keyShape = async () =>
      (
        await owner.query<{ def: string }>(
          "SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conname = 'api_keys_pkey'",
        )
      ).rows[0]?.def;
    const counts = async () =>
      (
        await owner.query(
          `SELECT (SELECT count(*) FROM api_keys)::int AS keys, (SELECT count(*) FROM invitations)::int AS invitations,
             (SELECT count(*) FROM audit_log)::int AS audit, (SELECT count(*) FROM plan_history)::int AS plans,
             (SELECT count(*) FROM billing_customers)::int AS customers, (SELECT count(*) FROM memories)::int AS memories`,
        )
      ).rows[0];

    let db = await openDatabase(urls);
    let relay = await startTestRelay(db);
    expect(await keyShape()).toBe("PRIMARY KEY (id)");
    const boss = new AccountClient(relay.url);
    const { workspace } = await boss.signup(`v13-${name}@example.com`);
    const ws = workspace?.id as string;
    const made = await boss.call("POST", `/v1/workspaces/${ws}/keys`, { name: "old", scopes: ["admin"] });
    const key = made.body.key as string;
    for (const content of ["kept across migration 13", "a second memory"]) {
      expect((await api(relay.url, "POST", "/v1/remember", { content }, key)).status).toBe(201);
    }
    const invite = await boss.call("POST", `/v1/workspaces/${ws}/invitations`, { role: "member" });
    await setPlan(db, ws, { plan: "team", source: "admin" });
    await db.tx(ws, (sql) => linkCustomerIn(sql, ws, "stripe", `cus_${name}`, null));
    await relay.close();
    await db.close();
    const before = await counts();
    expect(before).toMatchObject({ keys: 1, invitations: 1, plans: 1, customers: 1, memories: 2 });

    await owner.query("DELETE FROM schema_migrations WHERE version = 13");
    expect((await migrateSchema(urls)).applied).toEqual([13]);
    expect(await counts()).toEqual(before);
    expect(await keyShape()).toBe("PRIMARY KEY (workspace_id, id)");

    db = await openDatabase(urls);
    relay = await startTestRelay(db);
    try {
      expect((await api(relay.url, "GET", "/v1/stats", undefined, key)).status).toBe(200);
      const member = new AccountClient(relay.url);
      await member.signup(`v13-member-${name}@example.com`, undefined, { workspace: false });
      const accepted = await member.call("POST", "/v1/invitations/accept", { token: invite.body.token });
      expect(accepted.status).toBe(200);
      const audit = await api<{ entries: { id: number; action: string }[] }>(
        relay.url,
        "GET",
        "/v1/audit?limit=100",
        undefined,
        key,
      );
      expect(audit.status).toBe(200);
      const actions = audit.body.entries.map((e) => e.action);
      expect(actions).toEqual(expect.arrayContaining(["plan.change", "invitation.accept"]));
    } finally {
      await relay.close();
      await db.close();
    }
  });
});
