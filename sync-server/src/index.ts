export { RELAY_VERSION, type RunningRelay, startRelay } from "./server.ts";
export { type MigrationReport, migrateSchema, openDatabase, type RelayDatabase } from "./store/database.ts";
export { createApiKey, createWorkspace, listApiKeys, revokeApiKey, verifyApiKey } from "./store/pg-keys.ts";
export { PgMemoryStore } from "./store/pg-store.ts";
