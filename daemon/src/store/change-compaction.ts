import type Database from "better-sqlite3";

/**
 * Bounds the change log per memory. Every edit adds an Automerge change to `changes`; once the
 * relay holds them they are needed for nothing: the saved document (`docs`) already contains
 * every change it was built from (Automerge saves the whole history, compressed), the relay
 * serves them to other devices, and a change that comes back from the relay is recognised by
 * the document itself (applying a change it holds is a no-op). So, per memory, the changes the
 * relay acknowledged or sent are deleted except the newest of them, which keeps answering
 * "has this memory left this machine?" (`hasLeftThisMachine`, `memoriesSyncedWithRelay`).
 * Changes still in the outbox, and every change of a memory with a dead-lettered change, stay.
 * A memory edited 1,000 times and synced keeps one row instead of 1,000.
 */
export function compactChangeLog(db: Database.Database, docIds: Iterable<string>): number {
  const settled = `NOT EXISTS (SELECT 1 FROM outbox o WHERE o.seq = c.seq)`;
  const compact = db.prepare(
    `DELETE FROM changes AS c WHERE c.doc_id = @doc AND ${settled}
       AND NOT EXISTS (SELECT 1 FROM sync_dead_letters d WHERE d.doc_id = @doc)
       AND c.seq < (SELECT max(c.seq) FROM changes c WHERE c.doc_id = @doc AND ${settled})`,
  );
  let removed = 0;
  for (const doc of new Set(docIds)) removed += compact.run({ doc }).changes;
  return removed;
}

/** Change rows of one memory (tests and the scale benchmark). */
export function changeRowsOf(db: Database.Database, docId: string): number {
  return (db.prepare("SELECT count(*) AS n FROM changes WHERE doc_id = ?").get(docId) as { n: number }).n;
}
