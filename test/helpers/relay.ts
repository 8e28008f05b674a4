import type { RelayDatabase, RunningRelay } from "@tribalmemory/sync-server";
import { createApiKey, createWorkspace } from "@tribalmemory/sync-server";
import type { Scope } from "@tribalmemory/sync-server/auth/api-keys";
import { openTestDatabase, startTestRelay } from "@tribalmemory/sync-server/testing";
import { afterAll, beforeAll } from "vitest";

/**
 * A relay on the test database for one describe block: opened before its tests (then `setUp`
 * runs with both, to keep them and make what the block needs), closed after them.
 */
export function useTestRelay(
  setUp: (db: RelayDatabase, relay: RunningRelay) => void | Promise<void>,
  overrides?: Parameters<typeof startTestRelay>[1],
): void {
  let db: RelayDatabase | undefined;
  let relay: RunningRelay | undefined;
  beforeAll(async () => {
    db = await openTestDatabase();
    relay = await startTestRelay(db, overrides);
    await setUp(db, relay);
  }, 60_000);
  afterAll(async () => {
    await relay?.close();
    await db?.close();
  });
}

/** A new workspace and the secret of a key of it with these scopes. */
export async function workspaceKey(
  db: RelayDatabase,
  name: string,
  scopes: Scope[],
): Promise<{ workspaceId: string; key: string }> {
  const { workspaceId } = await createWorkspace(db, { name });
  return { workspaceId, key: (await createApiKey(db, workspaceId, { name: "test", scopes })).key };
}
