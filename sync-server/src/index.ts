export { parseRegions } from "./http/region-guard.ts";
export { isPlanId, limitsOf, PLAN_IDS, PLANS, type PlanId } from "./plans/plans.ts";
export { RELAY_VERSION, type RunningRelay, startRelay } from "./server.ts";
export { type MigrationReport, migrateSchema, openDatabase, type RelayDatabase } from "./store/database.ts";
export { createApiKey, createWorkspace, listApiKeys, revokeApiKey, verifyApiKey } from "./store/pg-keys.ts";
export { planHistory, setPlan } from "./store/pg-plans.ts";
export { DEFAULT_REGION } from "./store/pg-regions.ts";
export { PgMemoryStore } from "./store/pg-store.ts";
export { DEFAULT_LOG_PRUNE, type LogPruneSettings, pruneWorkspaceLog } from "./sync/log-pruner.ts";
