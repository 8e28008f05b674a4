import { EXPIRY_SWEEP_BATCH, ExpirySweeper, sweepExpired } from "@tribalmemory/shared/service/expiry-sweep";
import type { Logger } from "pino";
import type { RelayDatabase } from "../store/database.ts";
import { rescheduleExpiry, workspacesWithExpired } from "../store/pg-expiry.ts";
import type { RelayWorkspace } from "./relay-workspaces.ts";

/** Workspaces swept per pass: each forgets up to EXPIRY_SWEEP_BATCH memories. */
const WORKSPACES_PER_PASS = 20;

/**
 * The relay's expiry sweep: for each workspace with a memory past its expiry (migration 10's
 * schedule), forget a batch through the workspace's own service, so the deletions enter the
 * change log and reach every daemon like a forget over HTTP.
 */
export function relayExpirySweeper(deps: {
  db: RelayDatabase;
  workspace: (workspaceId: string) => Promise<RelayWorkspace>;
  log: Logger;
}): ExpirySweeper {
  const pass = async (): Promise<number> => {
    const nowMs = Date.now();
    let forgotten = 0;
    for (const workspaceId of await workspacesWithExpired(deps.db, nowMs, WORKSPACES_PER_PASS)) {
      const { service } = await deps.workspace(workspaceId);
      const n = await sweepExpired(service, { nowMs });
      forgotten = Math.max(forgotten, n);
      // A full batch leaves more to do: the row stays due and the next pass comes at once.
      if (n < EXPIRY_SWEEP_BATCH) await rescheduleExpiry(deps.db, workspaceId);
    }
    return forgotten;
  };
  return new ExpirySweeper({ pass, log: deps.log });
}
