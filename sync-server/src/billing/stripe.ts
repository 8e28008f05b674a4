import { TribalError } from "@tribalmemory/shared/errors";
import { isPlanId, type PlanId, type SelfServePlan } from "../plans/plans.ts";
import type { BillingEvent, BillingProvider, CheckoutRequest, StripeOptions } from "./billing-provider.ts";
import { verifyStripeSignature } from "./stripe-signature.ts";

const DEFAULT_API_BASE = "https://api.stripe.com";
/** A provider that hangs must not hold a request forever. */
const STRIPE_TIMEOUT_MS = 15_000;
/** Subscription statuses that still pay for the plan (past_due: Stripe is retrying the card). */
const PAYING = new Set(["active", "trialing", "past_due"]);
/**
 * Statuses that no longer pay: back to Free. Any other (incomplete: the first payment is still
 * being confirmed) changes nothing, so such an event arriving after the checkout's cannot undo it.
 */
const ENDED = new Set(["canceled", "unpaid", "incomplete_expired", "paused"]);

type Json = Record<string, unknown>;

/**
 * Stripe through its HTTP API as documented (no SDK): form-encoded POSTs with the secret key as
 * a Bearer token, JSON answers, `{error:{message,type,code}}` on failure; webhooks verified
 * with the endpoint's signing secret (stripe-signature.ts).
 */
export class StripeBilling implements BillingProvider {
  readonly name = "stripe";
  private readonly o: StripeOptions;
  private readonly base: string;

  constructor(options: StripeOptions) {
    this.o = options;
    this.base = (options.api_base ?? DEFAULT_API_BASE).replace(/\/$/, "");
  }

  async createCheckout(r: CheckoutRequest): Promise<{ id: string; url: string }> {
    const form: Record<string, string> = {
      mode: "subscription",
      "line_items[0][price]": this.o.prices[r.plan],
      "line_items[0][quantity]": "1",
      success_url: r.successUrl,
      cancel_url: r.cancelUrl,
      // Which workspace paid: on the session, and on the subscription its later events carry.
      client_reference_id: r.workspaceId,
      "metadata[workspace_id]": r.workspaceId,
      "metadata[plan]": r.plan,
      "subscription_data[metadata][workspace_id]": r.workspaceId,
      "subscription_data[metadata][plan]": r.plan,
    };
    if (r.customerId) form.customer = r.customerId;
    const session = await this.post("/v1/checkout/sessions", form);
    return { id: String(session.id), url: String(session.url) };
  }

  async createPortal(r: { customerId: string; returnUrl: string }): Promise<{ id: string; url: string }> {
    const session = await this.post("/v1/billing_portal/sessions", {
      customer: r.customerId,
      return_url: r.returnUrl,
    });
    return { id: String(session.id), url: String(session.url) };
  }

  readWebhook(rawBody: Buffer, headers: Record<string, string | string[] | undefined>): BillingEvent {
    const header = headers["stripe-signature"];
    verifyStripeSignature(rawBody, Array.isArray(header) ? header[0] : header, this.o.webhook_secret);
    let event: Json;
    try {
      event = JSON.parse(rawBody.toString("utf8")) as Json;
    } catch {
      throw new TribalError("INVALID_JSON", "The webhook body is not JSON.");
    }
    const id = typeof event.id === "string" ? event.id : "";
    const type = typeof event.type === "string" ? event.type : "";
    const object = ((event.data as Json | undefined)?.object ?? {}) as Json;
    if (!id || !type) throw new TribalError("VALIDATION_FAILED", "A Stripe event has an id and a type.");
    return this.toBillingEvent(id, type, object);
  }

  private toBillingEvent(id: string, type: string, o: Json): BillingEvent {
    const base = { id, providerType: type };
    const customerId = str(o.customer);
    const metadata = (o.metadata ?? {}) as Json;
    switch (type) {
      case "checkout.session.completed": {
        // An asynchronous payment (a bank debit) is not paid yet: its subscription's events say when.
        const paid = o.payment_status === "paid" || o.payment_status === "no_payment_required";
        const plan = paid ? str(metadata.plan) : null;
        return {
          ...base,
          kind: "subscribed",
          workspaceId: str(o.client_reference_id) ?? str(metadata.workspace_id),
          customerId,
          subscriptionId: str(o.subscription),
          plan: plan && isPlanId(plan) ? plan : null,
        };
      }
      case "customer.subscription.updated":
      case "customer.subscription.created": {
        const status = str(o.status) ?? "unknown";
        if (!PAYING.has(status) && !ENDED.has(status)) return { ...base, kind: "ignored", workspaceId: null };
        return {
          ...base,
          kind: "subscription_changed",
          workspaceId: str(metadata.workspace_id),
          customerId,
          subscriptionId: str(o.id) ?? "",
          // The price is the truth: a plan switched in the portal keeps the checkout's metadata.
          plan: PAYING.has(status) ? (this.planOfSubscription(o) ?? planIn(metadata)) : null,
          status,
        };
      }
      case "customer.subscription.deleted":
        return {
          ...base,
          kind: "subscription_ended",
          workspaceId: str(metadata.workspace_id),
          customerId,
          subscriptionId: str(o.id) ?? "",
        };
      case "invoice.paid":
      case "invoice.payment_failed": {
        const paid = type === "invoice.paid";
        // Where the invoice names its subscription's metadata (API versions differ in the place).
        const subscriptionMeta = ((o.subscription_details as Json | undefined)?.metadata ??
          ((o.parent as Json | undefined)?.subscription_details as Json | undefined)?.metadata ??
          {}) as Json;
        return {
          ...base,
          kind: "invoice",
          workspaceId: str(subscriptionMeta.workspace_id),
          customerId,
          invoice: {
            provider: this.name,
            provider_id: str(o.id) ?? id,
            amount: num(paid ? o.amount_paid : o.amount_due),
            currency: (str(o.currency) ?? "usd").toLowerCase(),
            status: paid ? "paid" : "payment_failed",
            period_start: unixToIso(o.period_start),
            period_end: unixToIso(o.period_end),
            hosted_url: str(o.hosted_invoice_url),
          },
        };
      }
      default:
        return { ...base, kind: "ignored", workspaceId: null };
    }
  }

  /** The plan whose configured price the subscription's first item pays. */
  private planOfSubscription(o: Json): PlanId | null {
    const items = ((o.items as Json | undefined)?.data ?? []) as Json[];
    const price = str(((items[0]?.price ?? {}) as Json).id);
    if (!price) return null;
    const entry = Object.entries(this.o.prices).find(([, p]) => p === price);
    return entry ? (entry[0] as SelfServePlan) : null;
  }

  private async post(path: string, form: Record<string, string>): Promise<Json> {
    let res: Response;
    try {
      res = await fetch(`${this.base}${path}`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${this.o.secret_key}`,
          "content-type": "application/x-www-form-urlencoded",
        },
        body: new URLSearchParams(form).toString(),
        signal: AbortSignal.timeout(STRIPE_TIMEOUT_MS),
      });
    } catch (err) {
      throw new TribalError(
        "BILLING_PROVIDER_FAILED",
        `Stripe did not answer (${(err as Error).message}). Retry later.`,
        {
          provider: this.name,
        },
      );
    }
    const text = await res.text();
    let body: Json = {};
    try {
      body = JSON.parse(text) as Json;
    } catch {
      body = {};
    }
    if (!res.ok) {
      const e = (body.error ?? {}) as Json;
      throw new TribalError(
        "BILLING_PROVIDER_FAILED",
        `Stripe refused ${path} (${res.status}): ${str(e.message) ?? "no message"}.`,
        { provider: this.name, status: res.status, type: str(e.type), code: str(e.code) },
      );
    }
    if (typeof body.url !== "string" || !body.url) {
      throw new TribalError("BILLING_PROVIDER_FAILED", `Stripe answered ${path} without a url.`, {
        provider: this.name,
        status: res.status,
      });
    }
    return body;
  }
}

function str(v: unknown): string | null {
  return typeof v === "string" && v ? v : null;
}

function num(v: unknown): number {
  return typeof v === "number" && Number.isFinite(v) ? Math.round(v) : 0;
}

function planIn(metadata: Json): PlanId | null {
  const p = str(metadata.plan);
  return p && isPlanId(p) ? p : null;
}

function unixToIso(v: unknown): string | null {
  return typeof v === "number" && Number.isFinite(v) ? new Date(v * 1000).toISOString() : null;
}
