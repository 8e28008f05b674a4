import type { MemoryService } from "@tribalmemory/shared/service/memory-service";
import type { SqliteMemoryStore } from "../store/sqlite-store.ts";
import { memoriesSyncedWithRelay, purgeLocal, setSyncState } from "../store/sync-log-store.ts";

/**
 * What a daemon does when the relay says its workspace was deleted (a `workspace_deleted`
 * message on the socket, or WORKSPACE_DELETED at the upgrade): purge every memory it received
 * from or sent to that workspace, through the same purge as a relay purge (row, document,
 * changes, vector, FTS, then the files scrubbed), and forget the deleted log's cursor. Memories
 * never acknowledged by the relay stay: they were only ever this machine's.
 * Returns how many memories were purged.
 */
export async function purgeDeletedWorkspace(
  store: SqliteMemoryStore,
  service: MemoryService,
): Promise<number> {
  return service.writeBeside(async () => {
    const ids = memoriesSyncedWithRelay(store);
    // One transaction: the file scrub (FTS merge, WAL truncation) runs once, after it commits.
    store.db
      .transaction(() => {
        for (const id of ids) purgeLocal(store, id);
        setSyncState(store, "cursor", "0");
      })
      .immediate();
    return { value: ids.length, touchedIds: ids };
  });
}
