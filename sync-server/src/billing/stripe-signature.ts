import { createHmac, timingSafeEqual } from "node:crypto";
import { TribalError } from "@tribalmemory/shared/errors";

/** Stripe's default: a signature older (or newer) than this is refused, so a captured event cannot be replayed later. */
export const STRIPE_TOLERANCE_S = 300;

/**
 * Verify a `Stripe-Signature` header as Stripe's libraries do: `t=<unix seconds>` and one or
 * more `v1=<hex>`; the expected v1 is HMAC-SHA256 of `${t}.${rawBody}` keyed by the endpoint's
 * signing secret, compared in constant time against each v1 given (several while a secret is
 * rolled). v0 and unknown schemes are ignored. Throws WEBHOOK_SIGNATURE_INVALID.
 */
export function verifyStripeSignature(
  rawBody: Buffer,
  header: string | undefined,
  secret: string,
  options: { toleranceS?: number; nowS?: number } = {},
): void {
  if (!header) throw invalid("The request has no Stripe-Signature header.");
  let t: number | null = null;
  const v1: string[] = [];
  for (const part of header.split(",")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === "t" && /^\d+$/.test(value)) t = Number(value);
    else if (key === "v1" && /^[0-9a-f]{64}$/i.test(value)) v1.push(value.toLowerCase());
  }
  if (t === null || !v1.length)
    throw invalid("The Stripe-Signature header has no timestamp or no v1 signature.");
  const expected = Buffer.from(stripeSignature(rawBody, t, secret), "hex");
  const matches = v1.some((s) => timingSafeEqual(Buffer.from(s, "hex"), expected));
  if (!matches)
    throw invalid("No v1 signature in Stripe-Signature matches this body and the endpoint's secret.");
  const tolerance = options.toleranceS ?? STRIPE_TOLERANCE_S;
  const now = options.nowS ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - t) > tolerance) {
    throw invalid(
      `The signature's timestamp is ${now - t} s from now; events older than ${tolerance} s are refused.`,
    );
  }
}

/** The v1 signature of a payload at time `t` (what Stripe sends; tests sign fixtures with it). */
export function stripeSignature(rawBody: Buffer | string, t: number, secret: string): string {
  return createHmac("sha256", secret).update(`${t}.`).update(rawBody).digest("hex");
}

/** A whole `Stripe-Signature` header for a payload (tests, and a local `stripe trigger` stand-in). */
export function stripeSignatureHeader(
  rawBody: Buffer | string,
  secret: string,
  t = Math.floor(Date.now() / 1000),
): string {
  return `t=${t},v1=${stripeSignature(rawBody, t, secret)}`;
}

function invalid(message: string): TribalError {
  return new TribalError(
    "WEBHOOK_SIGNATURE_INVALID",
    `${message} Check billing.stripe.webhook_secret (the endpoint's whsec_… secret) and the clock.`,
  );
}
