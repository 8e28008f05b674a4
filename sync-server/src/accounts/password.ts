/**
 * Password hashing with scrypt (node:crypto; no native addon to build). N = 2^15, r = 8, p = 1
 * costs 32 MiB and measured ~157 ms of one core per hash (2-core AMD EPYC host, Node 24;
 * N = 2^16 took ~310 ms, 2^17 ~670 ms): slow enough that a stolen table costs an attacker
 * real work per guess, fast enough that a login is not a denial-of-service lever on a small
 * relay (failed logins are throttled per address too). The parameters are stored in each hash,
 * so raising them later leaves old hashes verifiable.
 */
import { randomBytes, scrypt, timingSafeEqual } from "node:crypto";

const PARAMS = { N: 2 ** 15, r: 8, p: 1 };
const KEY_BYTES = 32;
const SALT_BYTES = 16;
/** scrypt needs 128·N·r bytes; Node refuses more than `maxmem` (32 MiB by default, too tight). */
const MAX_MEM = 256 * 1024 * 1024;

/** Bounds the schema enforces at signup (a longer password would only cost hashing time). */
export const PASSWORD_MIN_LENGTH = 10;
export const PASSWORD_MAX_LENGTH = 256;

function derive(password: string, salt: Buffer, params: typeof PARAMS): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password.normalize("NFKC"), salt, KEY_BYTES, { ...params, maxmem: MAX_MEM }, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}

/** `scrypt$N$r$p$salt$hash` (base64url), with a fresh random salt per call. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, PARAMS);
  return ["scrypt", PARAMS.N, PARAMS.r, PARAMS.p, salt.toString("base64url"), key.toString("base64url")].join(
    "$",
  );
}

/**
 * Whether `password` matches `stored`, compared in constant time. A null `stored` (no such
 * user, or a user made by `relay init` with no password) is checked against a dummy hash so
 * the answer takes as long as a wrong password: the time does not tell which emails exist.
 */
export async function verifyPassword(password: string, stored: string | null): Promise<boolean> {
  const parsed = stored ? parseHash(stored) : null;
  const target = parsed ?? (await dummy());
  const key = await derive(password, target.salt, target.params);
  return timingSafeEqual(key, target.key) && parsed !== null;
}

interface ParsedHash {
  params: typeof PARAMS;
  salt: Buffer;
  key: Buffer;
}

function parseHash(stored: string): ParsedHash | null {
  const [scheme, n, r, p, salt, key] = stored.split("$");
  if (scheme !== "scrypt" || !salt || !key) return null;
  const params = { N: Number(n), r: Number(r), p: Number(p) };
  if (![params.N, params.r, params.p].every(Number.isSafeInteger)) return null;
  const keyBytes = Buffer.from(key, "base64url");
  return keyBytes.length === KEY_BYTES
    ? { params, salt: Buffer.from(salt, "base64url"), key: keyBytes }
    : null;
}

let dummyHash: Promise<ParsedHash> | null = null;
/** The dummy hash, made once; called when the routes load so the first unknown email is not slower. */
export function dummy(): Promise<ParsedHash> {
  dummyHash ??= hashPassword(randomBytes(16).toString("hex")).then((h) => parseHash(h) as ParsedHash);
  return dummyHash;
}
