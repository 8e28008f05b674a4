import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { newActorId } from "@tribalmemory/shared/memory/document";
import type { SqliteMemoryStore } from "./store/sqlite-store.ts";

/**
 * The install's Automerge actor. Two machines sharing an actor wedge documents ("duplicate
 * seq"), so a data folder copied to another machine or path gets a fresh actor: the
 * fingerprint of where it was created is stored beside it.
 */
export function installActor(store: SqliteMemoryStore, dataDir: string): string {
  const fingerprint = `${hostname()}:${dataDir}`;
  const actor = store.getMeta("actor");
  if (actor && store.getMeta("actor_fingerprint") === fingerprint) return actor;
  const fresh = newActorId();
  store.setMeta("actor", fresh);
  store.setMeta("actor_fingerprint", fingerprint);
  if (!store.getMeta("install_id")) store.setMeta("install_id", randomBytes(8).toString("hex"));
  return fresh;
}
