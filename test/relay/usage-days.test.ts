import {
  createApiKey,
  createWorkspace,
  type RelayDatabase,
  type RunningRelay,
} from "@tribalmemory/sync-server";
import { api } from "@tribalmemory/sync-server/testing";
import { describe, expect, it } from "vitest";
import { useTestRelay } from "../helpers/relay.ts";

interface Day {
  day: string;
  queries: number;
  writes: number;
  embeds: number;
  memories: number | null;
  storage_bytes: number | null;
  agents: number | null;
}

/**
 * Usage per day (migration 8): the requests of today are counted in today's row by the same
 * statement that meters them, `GET /v1/usage?days=N` returns N days oldest first, and one
 * workspace never sees another's rows.
 */
describe("relay usage per day", () => {
  let db: RelayDatabase;
  let relay: RunningRelay;

  useTestRelay(
    (d, r) => {
      db = d;
      relay = r;
    },
    { quotaCacheMs: 0 },
  );

  async function workspace(name: string): Promise<string> {
    const { workspaceId } = await createWorkspace(db, { name });
    return (await createApiKey(db, workspaceId, { name: "admin", scopes: ["admin"] })).key;
  }
  const today = () => new Date().toISOString().slice(0, 10);
  const daysOf = async (key: string, days: number) => {
    const res = await api<{ days: Day[] }>(relay.url, "GET", `/v1/usage?days=${days}`, undefined, key);
    expect(res.status).toBe(200);
    return res.body.days;
  };

  it("counts today's requests in today's row, exactly, with the memories and agents seen", async () => {
    const key = await workspace("days-a");
    for (const content of ["first note", "second note", "third note"]) {
      const r = await api(relay.url, "POST", "/v1/remember", { content, source_instance: "cli" }, key);
      expect(r.status).toBe(201);
    }
    for (const q of ["note", "second"])
      expect((await api(relay.url, "POST", "/v1/recall", { query: q }, key)).status).toBe(200);

    const days = await daysOf(key, 7);
    expect(days).toHaveLength(7);
    expect(days.map((d) => d.day)).toEqual(
      [6, 5, 4, 3, 2, 1, 0].map((n) => new Date(Date.now() - n * 86_400_000).toISOString().slice(0, 10)),
    );
    const now = days[6];
    expect(now).toMatchObject({ day: today(), queries: 2, writes: 3, embeds: 0, memories: 3, agents: 1 });
    expect(now.storage_bytes).toBeGreaterThan(0);
    for (const d of days.slice(0, 6))
      expect(d).toEqual({ ...d, queries: 0, writes: 0, embeds: 0, memories: null, storage_bytes: null });
  });

  it("never shows one workspace's days to another", async () => {
    const a = await workspace("days-own");
    const b = await workspace("days-other");
    for (let i = 0; i < 4; i++)
      expect((await api(relay.url, "POST", "/v1/recall", { query: `q${i}` }, a)).status).toBe(200);
    expect((await daysOf(a, 1))[0]).toMatchObject({ queries: 4, writes: 0 });
    const other = await daysOf(b, 30);
    expect(other).toHaveLength(30);
    expect(other.map((d) => d.queries + d.writes + d.embeds)).toEqual(new Array(30).fill(0));
    expect(other[29]).toMatchObject({ day: today(), memories: 0, agents: 0 });
  });

  it("refuses a number of days out of range with VALIDATION_FAILED", async () => {
    const key = await workspace("days-bad");
    for (const days of ["0", "367", "ten"]) {
      const res = await api<{ error: { code: string } }>(
        relay.url,
        "GET",
        `/v1/usage?days=${days}`,
        undefined,
        key,
      );
      expect(res.status).toBe(422);
      expect(res.body.error.code).toBe("VALIDATION_FAILED");
    }
  });
});
