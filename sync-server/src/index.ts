export { createApiKey, createWorkspace, listApiKeys, revokeApiKey, verifyApiKey } from "./auth/api-keys.ts";
export { RELAY_VERSION, type RunningRelay, startRelay } from "./server.ts";
export { openDatabase, type RelayDatabase } from "./store/database.ts";
export { PgMemoryStore } from "./store/pg-store.ts";
