import type { Memory } from "../memory/types.ts";
import type { ListPage } from "./memory-store.ts";

/**
 * A list page from rows fetched with `limit + 1`: the extra row only says another page exists,
 * and the cursor points after the last row kept.
 */
export function pageOf<R>(
  rows: R[],
  limit: number,
  toMemory: (row: R) => Memory,
  cursorOf: (row: R) => string,
): ListPage {
  const more = rows.length > limit;
  const page = more ? rows.slice(0, limit) : rows;
  const last = page[page.length - 1];
  return { memories: page.map(toMemory), nextCursor: more && last ? cursorOf(last) : null };
}
