import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { stripeSignature, verifyStripeSignature } from "./stripe-signature.ts";

const body = Buffer.from('{"id":"evt_1","type":"invoice.paid"}');
const secret = "whsec_test";
const t = 1_767_225_600;

describe("Stripe-Signature verification", () => {
  it("is HMAC-SHA256 of the timestamp, a dot and the raw body, keyed by the endpoint secret, as Stripe documents", () => {
    const expected = createHmac("sha256", secret).update(`${t}.${body.toString()}`).digest("hex");
    expect(stripeSignature(body, t, secret)).toBe(expected);
    expect(() => verifyStripeSignature(body, `t=${t},v1=${expected}`, secret, { nowS: t })).not.toThrow();
  });

  it("accepts any matching v1 among several (a secret being rolled) and ignores v0", () => {
    const good = stripeSignature(body, t, secret);
    const header = `t=${t},v0=${"1".repeat(64)},v1=${stripeSignature(body, t, "whsec_old")},v1=${good}`;
    expect(() => verifyStripeSignature(body, header, secret, { nowS: t })).not.toThrow();
  });

  it("refuses a timestamp more than 300 s away, either side, and accepts one at 300 s", () => {
    const header = `t=${t},v1=${stripeSignature(body, t, secret)}`;
    expect(() => verifyStripeSignature(body, header, secret, { nowS: t + 300 })).not.toThrow();
    for (const nowS of [t + 301, t - 301]) {
      expect(() => verifyStripeSignature(body, header, secret, { nowS })).toThrow(
        expect.objectContaining({ code: "WEBHOOK_SIGNATURE_INVALID" }),
      );
    }
  });

  it("refuses a signature of another body, a malformed header, and a timestamp the signature does not cover", () => {
    const sig = stripeSignature(body, t, secret);
    for (const [b, header] of [
      [Buffer.from(`${body.toString()} `), `t=${t},v1=${sig}`],
      [body, `v1=${sig}`],
      [body, `t=${t},v1=${sig.slice(0, 40)}`],
      [body, `t=${t + 1},v1=${sig}`],
      [body, ""],
    ] as const) {
      expect(() => verifyStripeSignature(b, header, secret, { nowS: t })).toThrow(
        expect.objectContaining({ code: "WEBHOOK_SIGNATURE_INVALID", status: 400 }),
      );
    }
  });
});
