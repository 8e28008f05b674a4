import { MAX_SYNC_BATCH, type ServerMessage, syncPageBudget } from "@tribalmemory/shared/sync/protocol";
import type { RelayDatabase } from "../store/database.ts";
import { readPurgedPageIn, readSnapshotPageIn } from "../store/pg-snapshots.ts";

/** Purged ids per snapshot page (~40 bytes each on the wire). */
const PURGED_PER_PAGE = 5_000;

export type SnapshotMessage = Extract<ServerMessage, { type: "snapshot" }>;

/**
 * One socket's bootstrap by snapshot (sync protocol 3): the memories' saved documents by id,
 * then the purged ids, the last page marked `done`; every page says the log position S it
 * covers (read before the first page, so each document holds at least the log up to S).
 * Pages are bounded like the log's: MAX_SYNC_BATCH documents and the page budget in bytes.
 */
export class SnapshotPages {
  /** S: the tail of the log follows from here. */
  readonly cursor: number;
  private phase: "docs" | "purged" = "docs";
  private after = "";
  /** The page with done: true was produced. */
  finished = false;

  constructor(cursor: number) {
    this.cursor = cursor;
  }

  async next(db: RelayDatabase, workspaceId: string): Promise<SnapshotMessage> {
    if (this.phase === "docs") {
      const page = await db.tx(workspaceId, (sql) =>
        readSnapshotPageIn(sql, workspaceId, this.after, MAX_SYNC_BATCH, syncPageBudget()),
      );
      if (page.more) this.after = page.last as string;
      else {
        this.phase = "purged";
        this.after = "";
      }
      if (page.docs.length) {
        const { docs, embeddings } = page;
        return { type: "snapshot", docs, embeddings, purged: [], cursor: this.cursor, done: false };
      }
    }
    const page = await db.tx(workspaceId, (sql) =>
      readPurgedPageIn(sql, workspaceId, this.after, PURGED_PER_PAGE),
    );
    this.after = page.ids.at(-1) ?? this.after;
    this.finished = !page.more;
    return {
      type: "snapshot",
      docs: [],
      embeddings: [],
      purged: page.ids,
      cursor: this.cursor,
      done: !page.more,
    };
  }
}
