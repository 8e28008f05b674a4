/**
 * Sync protocol versions on a real relay socket: protocol 2 added the session stream, 3 the
 * bootstrap by snapshot (test/sync/snapshot-bootstrap.test.ts); a daemon
 * of protocol 1 still syncs, one newer than the relay hears a coded refusal that says which side
 * to upgrade.
 */
import { newActorId } from "@tribalmemory/shared/memory/document";
import { type ServerMessage, SYNC_PROTOCOL_VERSION } from "@tribalmemory/shared/sync/protocol";
import type { RelayDatabase, RunningRelay } from "@tribalmemory/sync-server";
import { describe, expect, it } from "vitest";
import WebSocket from "ws";
import { useTestRelay, workspaceKey } from "../helpers/relay.ts";
import { waitFor } from "./harness.ts";

describe("sync protocol versions", () => {
  let db: RelayDatabase;
  let relay: RunningRelay;
  let key: string;
  useTestRelay(async (d, r) => {
    db = d;
    relay = r;
    key = (await workspaceKey(db, "protocol", ["read", "write"])).key;
  });

  async function hello(protocol: number, extra: Record<string, unknown> = {}) {
    const ws = new WebSocket(`${relay.url.replace("http", "ws")}/v1/sync`, {
      headers: { authorization: `Bearer ${key}` },
    });
    const got: ServerMessage[] = [];
    let closeCode: number | null = null;
    ws.on("message", (d) => got.push(JSON.parse(d.toString()) as ServerMessage));
    ws.on("close", (code) => {
      closeCode = code;
    });
    await new Promise((r) => ws.on("open", r));
    ws.send(
      JSON.stringify({ type: "hello", protocol, device: "probe", actor: newActorId(), cursor: 0, ...extra }),
    );
    return { ws, got, closed: () => closeCode };
  }

  it("is 3 in this build (3: bootstrap by snapshot)", () => {
    expect(SYNC_PROTOCOL_VERSION).toBe(3);
  });

  it("welcomes a protocol-1 daemon, and opens no session stream for it", async () => {
    const c = await hello(1, { sessions: { cursor: 0 } });
    await waitFor("live", async () => c.got.some((m) => m.type === "live"));
    expect(c.got.find((m) => m.type === "welcome")).toMatchObject({ type: "welcome", protocol: 3 });
    expect(c.got.some((m) => m.type === "sessions")).toBe(false);
    c.ws.close();
  });

  it("refuses a newer daemon with SYNC_PROTOCOL_UNSUPPORTED naming the side to upgrade", async () => {
    const c = await hello(4);
    await waitFor("refused", async () => c.closed() !== null);
    const error = c.got.find((m) => m.type === "error") as { code: string; message: string } | undefined;
    expect(error?.code).toBe("SYNC_PROTOCOL_UNSUPPORTED");
    expect(error?.message).toContain("upgrade the relay");
    expect(c.closed()).toBe(4400);
  });
});
