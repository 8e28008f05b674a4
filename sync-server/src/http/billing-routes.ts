import { TribalError } from "@tribalmemory/shared/errors";
import { requireScope, type ZodTypeProvider } from "@tribalmemory/shared/http/route-schemas";
import type { FastifyPluginAsync } from "fastify";
import type { Logger } from "pino";
import { z } from "zod";
import { applyBillingEvent } from "../billing/billing-events.ts";
import type { BillingProvider } from "../billing/billing-provider.ts";
import { limitsOf } from "../plans/plans.ts";
import { listInvoices, planHistory, readWorkspacePlan } from "../store/pg-plans.ts";
import type { RelayRouteContext } from "./relay-route-context.ts";

const CheckoutBody = z.strictObject({
  plan: z.enum(["pro", "team"]),
  /** Where the provider's page sends the buyer after paying (and, without cancel_url, after giving up). */
  success_url: z.url({ protocol: /^https?$/ }),
  cancel_url: z.url({ protocol: /^https?$/ }).optional(),
});
const PortalBody = z.strictObject({ return_url: z.url({ protocol: /^https?$/ }) });

/** A webhook body is small; Stripe's events are a few KiB. */
const WEBHOOK_BODY_LIMIT = 256 * 1024;

export interface BillingRoutesOptions extends Pick<RelayRouteContext, "db" | "authOf" | "authorize"> {
  /** Null: billing is not configured, and checkout, portal and webhook answer 501. */
  provider: BillingProvider | null;
  onPlanChanged(workspaceId: string): void;
  log: Logger;
}

/**
 * `/v1/billing`: the workspace's plan, history and invoices (admin); a hosted checkout to buy
 * a plan and a portal to manage it (admin); and the provider's webhook, which has no API key:
 * its signature over the raw body is what authenticates it.
 */
export const billingRoutes: FastifyPluginAsync<BillingRoutesOptions> = async (fastify, options) => {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const { db, authOf, provider } = options;
  const admin = requireScope(options.authorize, "admin");
  const configured = (): BillingProvider => {
    if (!provider) {
      throw new TribalError(
        "BILLING_NOT_CONFIGURED",
        "This relay takes no payments (no billing.stripe in its options). Its admin sets plans with `tribalmemory relay plan <workspace> <plan>`.",
      );
    }
    return provider;
  };

  app.get("/v1/billing", admin, async (req) => {
    const workspaceId = authOf(req).workspaceId;
    const row = await readWorkspacePlan(db, workspaceId);
    const plan = row?.plan ?? "free";
    return {
      workspace_id: workspaceId,
      provider: provider?.name ?? null,
      plan,
      limits: limitsOf(plan, row?.custom_limits ?? null),
      customer_id: row?.billing_customer_id ?? null,
      subscription_id: row?.billing_subscription_id ?? null,
      history: await planHistory(db, workspaceId),
      invoices: await listInvoices(db, workspaceId),
    };
  });

  app.post("/v1/billing/checkout", { schema: { body: CheckoutBody }, ...admin }, async (req) => {
    const billing = configured();
    const workspaceId = authOf(req).workspaceId;
    const row = await readWorkspacePlan(db, workspaceId);
    const session = await billing.createCheckout({
      workspaceId,
      plan: req.body.plan,
      customerId: row?.billing_customer_id ?? null,
      successUrl: req.body.success_url,
      cancelUrl: req.body.cancel_url ?? req.body.success_url,
    });
    return { url: session.url, session_id: session.id, plan: req.body.plan };
  });

  app.post("/v1/billing/portal", { schema: { body: PortalBody }, ...admin }, async (req) => {
    const billing = configured();
    const row = await readWorkspacePlan(db, authOf(req).workspaceId);
    const customerId = row?.billing_customer_id;
    if (!customerId) {
      throw new TribalError(
        "BILLING_NO_CUSTOMER",
        "This workspace has never subscribed, so there is no billing account to manage. Subscribe with POST /v1/billing/checkout.",
      );
    }
    const session = await billing.createPortal({ customerId, returnUrl: req.body.return_url });
    return { url: session.url, session_id: session.id };
  });

  // The raw bytes are what the signature covers: this route keeps them instead of parsing JSON.
  await app.register(async (webhook) => {
    webhook.removeContentTypeParser("application/json");
    webhook.addContentTypeParser("application/json", { parseAs: "buffer" }, (_req, body, done) =>
      done(null, body),
    );
    webhook.post(
      "/v1/billing/webhook",
      { config: { public: true }, bodyLimit: WEBHOOK_BODY_LIMIT },
      async (req) => {
        const billing = configured();
        const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
        const event = billing.readWebhook(raw, req.headers);
        const outcome = await applyBillingEvent(
          { db, provider: billing.name, onPlanChanged: options.onPlanChanged, log: options.log },
          event,
        );
        return { received: true, event_id: event.id, type: event.providerType, ...outcome };
      },
    );
  });
};
