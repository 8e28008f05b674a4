import { TribalError } from "@tribalmemory/shared/errors";
import type { Command } from "commander";
import { dbOptions, failCleanly, type RelayDbOptions, relayOptions, withDb } from "./relay-options.ts";

interface RelayPlanOptions extends RelayDbOptions {
  memories?: string;
  queries?: string;
  agents?: string;
  note?: string;
}

/** An Enterprise limit: a whole number, or `unlimited`. */
function limit(flag: string, value: string | undefined): number | null | undefined {
  if (value === undefined) return undefined;
  if (value === "unlimited") return null;
  if (!/^\d+$/.test(value)) {
    throw new TribalError(
      "VALIDATION_FAILED",
      `${flag} takes a whole number or "unlimited", not "${value}".`,
    );
  }
  return Number(value);
}

/**
 * `tribalmemory relay plan <workspace> <plan>`: the relay's admin sets a workspace's plan
 * (free, pro, team, enterprise with its own limits) straight in the database; a plan_history
 * row says it was the admin. Relays apply it within their plan cache's few seconds.
 */
export function registerRelayPlanCommand(relay: Command): void {
  withDb(relay.command("plan <workspace> <plan>"))
    .description(
      "set a workspace's plan: free | pro | team | enterprise (with --memories/--queries/--agents)",
    )
    .option("--memories <n>", "enterprise: memories allowed (a number or unlimited; default unlimited)")
    .option("--queries <n>", "enterprise: recalls a month (a number or unlimited; default unlimited)")
    .option("--agents <n>", "enterprise: agents a month (a number or unlimited; default unlimited)")
    .option("--note <text>", "kept in the plan history (a ticket, a contract)")
    .action(async (workspaceId: string, planName: string, _o: unknown, cmd: Command) => {
      try {
        const { opts, config } = relayOptions<RelayPlanOptions>(cmd);
        const { openDatabase, setPlan, isPlanId, limitsOf, PLAN_IDS } = await import(
          "@tribalmemory/sync-server"
        );
        if (!isPlanId(planName)) {
          throw new TribalError(
            "VALIDATION_FAILED",
            `Unknown plan "${planName}": one of ${PLAN_IDS.join(", ")}.`,
          );
        }
        if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(workspaceId)) {
          throw new TribalError(
            "VALIDATION_FAILED",
            `"${workspaceId}" is not a workspace id (a UUID; relay init printed it).`,
          );
        }
        const custom = {
          memories: limit("--memories", opts.memories),
          queries_per_month: limit("--queries", opts.queries),
          agents: limit("--agents", opts.agents),
        };
        const given = Object.values(custom).some((v) => v !== undefined);
        if (given && planName !== "enterprise") {
          throw new TribalError(
            "VALIDATION_FAILED",
            "--memories, --queries and --agents set Enterprise limits; the other plans have fixed ones.",
          );
        }
        const customLimits = Object.fromEntries(
          Object.entries(custom).filter(([, v]) => v !== undefined && v !== null),
        );
        const db = await openDatabase(dbOptions(opts, config));
        try {
          const r = await setPlan(db, workspaceId, {
            plan: planName,
            customLimits: planName === "enterprise" ? customLimits : null,
            source: "admin",
            reference: opts.note ?? null,
          });
          if (!r)
            throw new TribalError(
              "VALIDATION_FAILED",
              `No workspace ${workspaceId} in this relay's database.`,
            );
          process.stdout.write(
            `${JSON.stringify({ workspace_id: workspaceId, plan: r.to, from: r.from, changed: r.changed, limits: limitsOf(r.to, customLimits) })}\n`,
          );
        } finally {
          await db.close();
        }
      } catch (err) {
        failCleanly(err);
      }
    });
}
