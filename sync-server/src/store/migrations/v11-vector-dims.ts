/**
 * Migration 11: vector indexes for every common embedding width, not only bge-small's 384.
 *
 * Until now only 384-d vectors had an HNSW index while the default model (USE-lite) makes
 * 512-d ones, so a large workspace's vector search scanned. An HNSW index holds one width, so
 * each width gets a partial expression index over `embedding::vector(d) WHERE embedding_dims = d`
 * (pg-search.ts casts the same way so the planner matches it). pgvector's HNSW takes at most
 * 2,000 dimensions for `vector`; a wider model (3,072) is searched exactly (pg-search.ts).
 *
 * The indexes are not built inside the migration's transaction: on a table that already holds
 * a million 512-d rows the build takes minutes, and a plain CREATE INDEX blocks every write
 * meanwhile. `ensureVectorIndexes` runs after the migrations, as the owner, and builds each
 * missing index with CREATE INDEX CONCURRENTLY (writes go on), for the common widths and any
 * other width a workspace uses. Until an index is valid, searches of that width scan their
 * workspace's own rows exactly, which is correct, only slower for a large workspace.
 *
 * The migration itself keeps a memory's row in one piece (toast_tuple_target): a 512-d vector
 * is 2,056 bytes, so every row passed the default 2 KB TOAST threshold and the toaster moved
 * columns out of line. Measured (20 workspaces × 1,000 memories, `pnpm bench relay-scale`): the
 * filter `embedding_hash = content_hash` over one workspace's 1,000 rows read 8,068 buffers
 * (two TOAST fetches a row) against 68 for the inline columns. Rows up to a page now stay
 * inline; existing rows move when they are next written.
 */
export const V11_VECTOR_DIMS = `
ALTER TABLE memories SET (toast_tuple_target = 8160);
`;

/** Widths indexed on every relay: bge-small/MiniLM 384, USE-lite 512, base models 768, large 1024, OpenAI 1536 — and 256. */
export const VECTOR_INDEX_DIMS: readonly number[] = [256, 384, 512, 768, 1024, 1536];

/** pgvector's HNSW limit for `vector` columns. */
export const HNSW_MAX_DIMS = 2000;

export function vectorIndexName(dims: number): string {
  return `memories_embedding_${dims}`;
}

function vectorIndexSql(dims: number, concurrently: boolean): string {
  return `CREATE INDEX ${concurrently ? "CONCURRENTLY " : ""}IF NOT EXISTS ${vectorIndexName(dims)} ON memories
    USING hnsw ((embedding::vector(${dims})) vector_cosine_ops) WHERE embedding_dims = ${dims}`;
}

interface IndexRunner {
  query(text: string, params?: unknown[]): Promise<unknown[]>;
}

/**
 * Build the HNSW index of every common width and of every width a visible workspace uses
 * (the owner sees every workspace when it is a superuser or BYPASSRLS; under FORCE row-level
 * security it sees none, and only the common widths are built). Runs outside a transaction.
 * PostgreSQL: CONCURRENTLY, under a session advisory lock so two relays starting at once do not
 * both build; an index left INVALID by an interrupted build is dropped and built again.
 * PGlite (one connection, no other writer): a plain build. Returns the widths it built.
 */
export async function ensureVectorIndexes(db: IndexRunner, kind: "postgres" | "pglite"): Promise<number[]> {
  const used = (await db.query(
    "SELECT DISTINCT embedding_dims AS d FROM workspaces WHERE embedding_dims IS NOT NULL",
  )) as { d: number }[];
  const wanted = [...new Set([...VECTOR_INDEX_DIMS, ...used.map((r) => Number(r.d))])]
    .filter((d) => d > 0 && d <= HNSW_MAX_DIMS)
    .sort((a, b) => a - b);
  const state = async () =>
    new Map(
      (
        (await db.query(
          `SELECT c.relname AS name, i.indisvalid AS valid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
           WHERE c.relname LIKE 'memories\\_embedding\\_%'`,
        )) as { name: string; valid: boolean }[]
      ).map((r) => [r.name, r.valid]),
    );
  const before = await state();
  if (wanted.every((d) => before.get(vectorIndexName(d)) === true)) return [];
  const built: number[] = [];
  if (kind === "pglite") {
    for (const d of wanted) {
      if (before.get(vectorIndexName(d))) continue;
      await db.query(vectorIndexSql(d, false));
      built.push(d);
    }
    return built;
  }
  await db.query("SELECT pg_advisory_lock(727275)");
  try {
    for (const d of wanted) {
      const valid = (await state()).get(vectorIndexName(d));
      if (valid === true) continue;
      if (valid === false) await db.query(`DROP INDEX CONCURRENTLY IF EXISTS ${vectorIndexName(d)}`);
      await db.query(vectorIndexSql(d, true));
      built.push(d);
    }
  } finally {
    await db.query("SELECT pg_advisory_unlock(727275)");
  }
  return built;
}
