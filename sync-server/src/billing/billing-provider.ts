import type { PlanId, SelfServePlan } from "../plans/plans.ts";
import type { InvoiceRow } from "../store/pg-plans.ts";

/**
 * What the relay needs of a payment provider: a hosted checkout to buy a plan, a hosted portal
 * to manage it, and its webhook events verified and read into the few facts the relay acts on.
 * Stripe is the one adapter (stripe.ts); the routes (http/billing-routes.ts) and the event
 * handling (billing-events.ts) know nothing of its shapes.
 */
export interface BillingProvider {
  /** Stored with customers, invoices and event ids ("stripe"). */
  readonly name: string;
  createCheckout(request: CheckoutRequest): Promise<{ id: string; url: string }>;
  createPortal(request: { customerId: string; returnUrl: string }): Promise<{ id: string; url: string }>;
  /**
   * The event a webhook delivers, after its signature is verified against the raw body.
   * Throws WEBHOOK_SIGNATURE_INVALID when the signature is missing, forged or stale.
   */
  readWebhook(rawBody: Buffer, headers: Record<string, string | string[] | undefined>): BillingEvent;
}

export interface CheckoutRequest {
  workspaceId: string;
  plan: SelfServePlan;
  /** The workspace's customer when it has one, so a second purchase is not a second customer. */
  customerId: string | null;
  successUrl: string;
  cancelUrl: string;
}

/** A webhook event, as the relay acts on it. `workspaceId`: what the event itself names, if anything. */
export type BillingEvent = { id: string; providerType: string; workspaceId: string | null } & (
  | { kind: "subscribed"; customerId: string | null; subscriptionId: string | null; plan: PlanId | null }
  | {
      kind: "subscription_changed";
      customerId: string | null;
      subscriptionId: string;
      /** The plan the subscription now pays for; null when it no longer pays (canceled, unpaid). */
      plan: PlanId | null;
      /** The provider's subscription status (active, past_due, canceled, …). */
      status: string;
    }
  | { kind: "subscription_ended"; customerId: string | null; subscriptionId: string }
  | { kind: "invoice"; customerId: string | null; invoice: InvoiceRow }
  | { kind: "ignored" }
);

/** The relay's billing options (`RelayOptions.billing`); null: billing is off. */
export interface BillingOptions {
  stripe: StripeOptions;
}

export interface StripeOptions {
  /** `sk_live_…`/`sk_test_…`: sent as a Bearer token to the Stripe API, never logged. */
  secret_key: string;
  /** The webhook endpoint's signing secret, `whsec_…`. */
  webhook_secret: string;
  /** The Stripe price id of each plan a workspace can buy. */
  prices: Record<SelfServePlan, string>;
  /** Default https://api.stripe.com (tests point it at a loopback server). */
  api_base?: string;
}
