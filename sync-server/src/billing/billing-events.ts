import type { Logger } from "pino";
import type { RelayDatabase, Sql } from "../store/database.ts";
import {
  claimBillingEventIn,
  clearSubscriptionIn,
  linkCustomerIn,
  setPlanIn,
  upsertInvoiceIn,
  workspaceExists,
  workspaceOfCustomer,
} from "../store/pg-plans.ts";
import type { BillingEvent } from "./billing-provider.ts";

export interface BillingEventsDeps {
  db: RelayDatabase;
  /** The provider's name ("stripe"): customers and event ids are kept per provider. */
  provider: string;
  /** After a plan changed: the quota cache forgets the workspace. */
  onPlanChanged(workspaceId: string): void;
  log: Logger;
}

export interface AppliedEvent {
  /** applied: acted on now; duplicate: this event id was handled before; ignored: nothing to do. */
  status: "applied" | "duplicate" | "ignored";
  workspace_id: string | null;
  plan?: { from: string; to: string };
  reason?: string;
}

/**
 * Apply a verified webhook event once. The event id is remembered in the transaction that
 * applies it, so a delivery repeated by the provider (or replayed) changes nothing, and a
 * failed apply is not remembered and is applied when the provider retries.
 */
export async function applyBillingEvent(deps: BillingEventsDeps, event: BillingEvent): Promise<AppliedEvent> {
  const { db, provider } = deps;
  const workspaceId = event.kind === "ignored" ? null : await resolveWorkspace(deps, event);
  if (!workspaceId) {
    const fresh = await db.tx(null, (sql) =>
      claimBillingEventIn(sql, provider, event.id, event.providerType),
    );
    const reason =
      event.kind === "ignored" ? `${event.providerType} is not acted on` : "names no known workspace";
    if (fresh && event.kind !== "ignored") {
      deps.log.warn({ event: event.id, type: event.providerType }, "billing event names no known workspace");
    }
    return { status: fresh ? "ignored" : "duplicate", workspace_id: null, reason };
  }
  const outcome = await db.tx(workspaceId, async (sql): Promise<AppliedEvent> => {
    if (!(await claimBillingEventIn(sql, provider, event.id, event.providerType))) {
      return { status: "duplicate", workspace_id: workspaceId };
    }
    return applyIn(sql, deps, workspaceId, event);
  });
  if (outcome.plan && outcome.plan.from !== outcome.plan.to) {
    deps.onPlanChanged(workspaceId);
    deps.log.info(
      { workspace: workspaceId, from: outcome.plan.from, to: outcome.plan.to, event: event.id },
      "plan changed by billing",
    );
  }
  return outcome;
}

async function applyIn(
  sql: Sql,
  deps: BillingEventsDeps,
  workspaceId: string,
  event: BillingEvent,
): Promise<AppliedEvent> {
  const applied: AppliedEvent = { status: "applied", workspace_id: workspaceId };
  const setPlan = async (plan: "free" | "pro" | "team" | "enterprise", reference: string | null) => {
    const r = await setPlanIn(sql, workspaceId, {
      plan,
      source: deps.provider,
      reference: reference ?? event.id,
    });
    if (r) applied.plan = { from: r.from, to: r.to };
  };
  switch (event.kind) {
    case "subscribed":
      if (event.customerId)
        await linkCustomerIn(sql, workspaceId, deps.provider, event.customerId, event.subscriptionId);
      if (event.plan) await setPlan(event.plan, event.subscriptionId);
      return applied;
    case "subscription_changed":
      if (event.customerId)
        await linkCustomerIn(sql, workspaceId, deps.provider, event.customerId, event.subscriptionId);
      // No longer paying (canceled, unpaid, incomplete_expired): back to Free.
      await setPlan(event.plan ?? "free", event.subscriptionId);
      return applied;
    case "subscription_ended":
      await clearSubscriptionIn(sql, workspaceId);
      await setPlan("free", event.subscriptionId);
      return applied;
    case "invoice":
      await upsertInvoiceIn(sql, workspaceId, event.invoice);
      return applied;
    case "ignored":
      return { status: "ignored", workspace_id: workspaceId };
  }
}

/**
 * The workspace an event is about: the customer the relay linked to it; else the workspace the
 * event names (checkout's client_reference_id, the subscription's metadata), which also covers
 * events that arrive before the checkout that links the customer (Stripe does not order them).
 */
async function resolveWorkspace(deps: BillingEventsDeps, event: BillingEvent): Promise<string | null> {
  const customer = "customerId" in event ? event.customerId : null;
  const named = event.workspaceId && isUuid(event.workspaceId) ? event.workspaceId : null;
  if (event.kind === "subscribed" && named && (await workspaceExists(deps.db, named))) return named;
  if (customer) {
    const linked = await workspaceOfCustomer(deps.db, deps.provider, customer);
    if (linked) return linked;
  }
  return named && (await workspaceExists(deps.db, named)) ? named : null;
}

function isUuid(s: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s);
}
