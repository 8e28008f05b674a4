import { TribalError } from "@tribalmemory/shared/errors";
import type { FastifyInstance } from "fastify";
import type { RelayDatabase } from "../store/database.ts";
import { DEFAULT_REGION, REGION_PATTERN, workspaceRegion } from "../store/pg-regions.ts";

/** Workspace regions a process remembers (a region never changes, so entries never go stale). */
const MAX_CACHED = 100_000;

/**
 * The regions a relay serves (`relay start --regions eu,us`), checked as a region name each;
 * null or empty: every region (a single-region deployment).
 */
export function parseRegions(list: readonly string[] | null | undefined): string[] | null {
  const regions = [...new Set((list ?? []).map((r) => r.trim()).filter(Boolean))];
  for (const r of regions) {
    if (!REGION_PATTERN.test(r)) {
      throw new TribalError(
        "VALIDATION_FAILED",
        `Region "${r}" is not a region name: lowercase letters, digits and dashes, starting with a letter (e.g. eu, us-east).`,
        { issues: [{ path: "regions", message: "invalid region name" }] },
      );
    }
  }
  return regions.length ? regions : null;
}

function wrongRegion(region: string, served: readonly string[], what: string): TribalError {
  return new TribalError(
    "WRONG_REGION",
    `${what} is in region "${region}"; this relay serves ${served.map((r) => `"${r}"`).join(", ")}. Use a relay of region "${region}".`,
    { region, served },
  );
}

/**
 * A relay that serves some regions refuses the requests and sync sockets of workspaces of
 * other regions (421 WRONG_REGION, `details.region` being where to go), and the creation of a
 * workspace elsewhere. Checked right after the API key names the workspace (the sync upgrade
 * passes the same hook), against a per-process cache: one query per workspace per process.
 * A relay serving every region adds no hook at all.
 */
export function installRegionGuard(
  app: FastifyInstance,
  deps: { db: RelayDatabase; regions: readonly string[] | null },
): void {
  const served = deps.regions;
  if (!served?.length) return;
  const allowed = new Set(served);
  const cache = new Map<string, string>();
  const regionOf = async (workspaceId: string): Promise<string | null> => {
    const known = cache.get(workspaceId);
    if (known !== undefined) return known;
    const region = await workspaceRegion(deps.db, workspaceId);
    if (region !== null) {
      if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value as string);
      cache.set(workspaceId, region);
    }
    return region;
  };

  app.addHook("onRequest", async (req) => {
    const workspaceId = req.auth?.workspaceId;
    if (!workspaceId) return;
    const region = await regionOf(workspaceId);
    if (region !== null && !allowed.has(region)) throw wrongRegion(region, served, "This workspace");
  });

  // Creating a workspace (`POST /v1/workspaces {region}`): only in a region served here.
  app.addHook("preHandler", async (req) => {
    if (req.method !== "POST" || req.routeOptions.url !== "/v1/workspaces") return;
    const asked = (req.body as { region?: unknown } | null)?.region;
    const region = typeof asked === "string" && asked ? asked : DEFAULT_REGION;
    if (!allowed.has(region)) throw wrongRegion(region, served, "The new workspace");
  });
}
