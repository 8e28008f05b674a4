/**
 * What an API key is, without storage: its format, hash and scopes. The keys' SQL is in
 * `store/pg-keys.ts`.
 */
import { createHash } from "node:crypto";

export const SCOPES = ["read", "write", "admin"] as const;
export type Scope = (typeof SCOPES)[number];

export const KEY_PREFIX = "tm_live_";

export interface AuthContext {
  keyId: string;
  workspaceId: string;
  scopes: Scope[];
}

export interface CreatedKey {
  id: string;
  /** The secret, shown once: only its SHA-256 is stored. */
  key: string;
  prefix: string;
  name: string;
  scopes: Scope[];
  created_at: string;
}

export interface KeyInfo {
  id: string;
  name: string;
  prefix: string;
  scopes: Scope[];
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

/**
 * SHA-256, not bcrypt: a key carries 256 random bits, so a slow hash adds nothing but ~100 ms
 * of CPU per request.
 */
export function hashApiKey(key: string): string {
  return createHash("sha256").update(key, "utf8").digest("hex");
}

/** admin ⊃ write ⊃ read. */
export function hasScope(granted: Scope[], needed: Scope): boolean {
  if (granted.includes("admin")) return true;
  if (needed === "read") return granted.includes("read") || granted.includes("write");
  return granted.includes(needed);
}
