/**
 * Test support shared by the relay's own tests and the cross-package ones in `test/`: a
 * database (the CI cluster as the app role when TEST_APP_DATABASE_URL is set, else PGlite), a
 * relay on loopback with the fast hashing embedder, and a small HTTP client with Bearer keys.
 */
import { createHashingProvider } from "@tribalmemory/shared/embed/hashing";
import pino from "pino";
import { type RelayOptions, type RunningRelay, startRelay } from "./server.ts";
import { openDatabase, type RelayDatabase } from "./store/database.ts";

export function openTestDatabase(): Promise<RelayDatabase> {
  const app = process.env.TEST_APP_DATABASE_URL;
  return openDatabase(app ? { databaseUrl: app, adminDatabaseUrl: process.env.TEST_DATABASE_URL } : {});
}

/** `overrides`: options a test needs beside these (billing, a shorter plan cache, …). */
export function startTestRelay(
  db: RelayDatabase,
  overrides: Partial<RelayOptions> = {},
): Promise<RunningRelay> {
  return startRelay({
    db,
    host: "127.0.0.1",
    port: 0,
    logger: pino({ level: "silent" }),
    embedder: {
      provider: createHashingProvider(384),
      calibration: { floor: 0.1, ceiling: 0.9, weight: 0.3 },
      dedupCosine: null,
    },
    ...overrides,
  });
}

export async function api<T = Record<string, unknown>>(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  key?: string,
): Promise<{ status: number; body: T }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...(body !== undefined ? { "content-type": "application/json" } : {}),
      ...(key ? { authorization: `Bearer ${key}` } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
}
