/**
 * What an API key is, without storage: its format, hash and scopes. The keys' SQL is in
 * `store/pg-keys.ts`.
 */
import { createHash } from "node:crypto";

export const SCOPES = ["read", "write", "admin"] as const;
export type Scope = (typeof SCOPES)[number];

export const KEY_PREFIX = "tm_live_";

/** A member's role in a workspace (migration 5); it maps to scopes with `roleScopes`. */
export const ROLES = ["owner", "admin", "member", "viewer"] as const;
export type Role = (typeof ROLES)[number];

/**
 * Who a request acts as, in which workspace. A Bearer key: `keyId` set, `userId` its creator
 * (null for keys made before accounts). A login session with `X-Tribal-Workspace`: `keyId`
 * null, `userId` the user, `role` their membership, `scopes` from the role.
 */
export interface AuthContext {
  keyId: string | null;
  userId: string | null;
  workspaceId: string;
  scopes: Scope[];
  role?: Role;
}

/** owner/admin → admin, member → write, viewer → read. */
export function roleScopes(role: Role): Scope[] {
  if (role === "owner" || role === "admin") return ["admin"];
  return role === "member" ? ["write"] : ["read"];
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
  /** Who made the key: a user (its `user_id`, whose keys go when they leave) and/or a key. */
  created_by: { user_id: string | null; key_id: string | null };
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
