import { createServer, type Server } from "node:http";
import {
  createApiKey,
  createWorkspace,
  type RelayDatabase,
  type RunningRelay,
} from "@tribalmemory/sync-server";
import { stripeSignatureHeader } from "@tribalmemory/sync-server/billing/stripe-signature";
import { api, openTestDatabase, startTestRelay } from "@tribalmemory/sync-server/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const SECRET_KEY = "sk_test_relay_billing_123";
const WEBHOOK_SECRET = "whsec_test_relay_billing";
const PRICES = { pro: "price_pro_monthly", team: "price_team_monthly" };

interface StripeCall {
  path: string;
  authorization: string | undefined;
  contentType: string | undefined;
  form: Record<string, string>;
}

/**
 * A loopback server that answers as Stripe's API does for the two calls the relay makes:
 * form-encoded POSTs with a Bearer secret key, JSON answers, `{error:{type,message}}` on failure.
 */
function startFakeStripe(): Promise<{ server: Server; base: string; calls: StripeCall[] }> {
  const calls: StripeCall[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (d: Buffer) => {
      body += d.toString();
    });
    req.on("end", () => {
      const form = Object.fromEntries(new URLSearchParams(body));
      calls.push({
        path: req.url ?? "",
        authorization: req.headers.authorization,
        contentType: req.headers["content-type"],
        form,
      });
      const send = (status: number, json: unknown) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(json));
      };
      if (req.headers.authorization !== `Bearer ${SECRET_KEY}`) {
        return send(401, { error: { type: "invalid_request_error", message: "Invalid API Key provided" } });
      }
      if (req.method === "POST" && req.url === "/v1/checkout/sessions") {
        if (!Object.values(PRICES).includes(form["line_items[0][price]"])) {
          return send(400, {
            error: {
              type: "invalid_request_error",
              code: "resource_missing",
              message: `No such price: '${form["line_items[0][price]"]}'`,
            },
          });
        }
        const id = `cs_test_${calls.length}`;
        return send(200, { id, object: "checkout.session", url: `https://checkout.stripe.com/c/pay/${id}` });
      }
      if (req.method === "POST" && req.url === "/v1/billing_portal/sessions") {
        if (!form.customer)
          return send(400, { error: { type: "invalid_request_error", message: "Missing customer" } });
        return send(200, {
          id: "bps_test_1",
          object: "billing_portal.session",
          url: `https://billing.stripe.com/p/session/test_${form.customer}`,
        });
      }
      send(404, {
        error: { type: "invalid_request_error", message: `Unrecognized request URL (${req.url})` },
      });
    });
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as { port: number }).port;
      resolve({ server, base: `http://127.0.0.1:${port}`, calls });
    }),
  );
}

type Refusal = { error: { code: string; message: string; details?: Record<string, unknown> } };
type Billing = {
  plan: string;
  provider: string | null;
  customer_id: string | null;
  subscription_id: string | null;
  history: { plan: string; from: string; source: string; reference: string | null }[];
  invoices: {
    provider_id: string;
    amount: number;
    currency: string;
    status: string;
    hosted_url: string | null;
    period_start: string | null;
  }[];
};

/** Billing: the Stripe adapter against a loopback Stripe, and the webhook with signed fixture events. */
describe("relay billing (Stripe)", () => {
  let db: RelayDatabase;
  let relay: RunningRelay;
  let unbilled: RunningRelay;
  let stripe: Awaited<ReturnType<typeof startFakeStripe>>;
  let ws: string;
  let admin: string;
  let reader: string;
  let eventSeq = 0;

  beforeAll(async () => {
    stripe = await startFakeStripe();
    db = await openTestDatabase();
    relay = await startTestRelay(db, {
      billing: {
        stripe: {
          secret_key: SECRET_KEY,
          webhook_secret: WEBHOOK_SECRET,
          prices: PRICES,
          api_base: stripe.base,
        },
      },
    });
    unbilled = await startTestRelay(db);
    ws = (await createWorkspace(db, { name: "billing" })).workspaceId;
    admin = (await createApiKey(db, ws, { name: "admin", scopes: ["admin"] })).key;
    reader = (await createApiKey(db, ws, { name: "reader", scopes: ["read", "write"] })).key;
  }, 60_000);

  afterAll(async () => {
    await relay?.close();
    await unbilled?.close();
    await db?.close();
    await new Promise((r) => stripe?.server.close(r));
  });

  const call = <T = Record<string, unknown>>(key: string, method: string, path: string, body?: unknown) =>
    api<T>(relay.url, method, path, body, key);
  const billing = async () => (await call<Billing>(admin, "GET", "/v1/billing")).body;

  function event(type: string, object: Record<string, unknown>, id = `evt_test_${++eventSeq}`): string {
    return JSON.stringify({ id, object: "event", type, api_version: "2025-06-30", data: { object } });
  }
  async function deliver(
    payload: string,
    signature: string | null = stripeSignatureHeader(payload, WEBHOOK_SECRET),
  ) {
    const res = await fetch(`${relay.url}/v1/billing/webhook`, {
      method: "POST",
      headers: {
        "content-type": "application/json; charset=utf-8",
        ...(signature ? { "stripe-signature": signature } : {}),
      },
      body: payload,
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> & Refusal };
  }
  const checkoutCompleted = (workspace: string, customer: string, plan = "pro") =>
    event("checkout.session.completed", {
      id: "cs_test_done",
      object: "checkout.session",
      mode: "subscription",
      client_reference_id: workspace,
      customer,
      subscription: `sub_${customer}`,
      metadata: { workspace_id: workspace, plan },
      payment_status: "paid",
    });

  it("without billing configured, checkout, portal and webhook answer 501 and GET /v1/billing still shows the plan", async () => {
    for (const [path, body] of [
      ["/v1/billing/checkout", { plan: "pro", success_url: "https://app.example/ok" }],
      ["/v1/billing/portal", { return_url: "https://app.example/" }],
    ] as const) {
      const res = await api<Refusal>(unbilled.url, "POST", path, body, admin);
      expect([res.status, res.body.error.code]).toEqual([501, "BILLING_NOT_CONFIGURED"]);
    }
    const hook = await api<Refusal>(unbilled.url, "POST", "/v1/billing/webhook", { id: "evt_1" });
    expect([hook.status, hook.body.error.code]).toEqual([501, "BILLING_NOT_CONFIGURED"]);
    const shown = await api<Billing>(unbilled.url, "GET", "/v1/billing", undefined, admin);
    expect(shown.body).toMatchObject({ plan: "free", provider: null, history: [], invoices: [] });
  });

  it("checkout creates a Stripe Checkout Session with the plan's price and the workspace, form-encoded with the secret key", async () => {
    const res = await call<{ url: string; session_id: string }>(admin, "POST", "/v1/billing/checkout", {
      plan: "pro",
      success_url: "https://app.example/billing/ok",
    });
    expect(res.status).toBe(200);
    expect(res.body.url).toBe(`https://checkout.stripe.com/c/pay/${res.body.session_id}`);
    const sent = stripe.calls.at(-1) as StripeCall;
    expect(sent.path).toBe("/v1/checkout/sessions");
    expect(sent.authorization).toBe(`Bearer ${SECRET_KEY}`);
    expect(sent.contentType).toBe("application/x-www-form-urlencoded");
    expect(sent.form).toEqual({
      mode: "subscription",
      "line_items[0][price]": "price_pro_monthly",
      "line_items[0][quantity]": "1",
      success_url: "https://app.example/billing/ok",
      cancel_url: "https://app.example/billing/ok",
      client_reference_id: ws,
      "metadata[workspace_id]": ws,
      "metadata[plan]": "pro",
      "subscription_data[metadata][workspace_id]": ws,
      "subscription_data[metadata][plan]": "pro",
    });
    // Admins only; only the self-serve plans.
    expect(
      (await call(reader, "POST", "/v1/billing/checkout", { plan: "pro", success_url: "https://a.example/" }))
        .status,
    ).toBe(403);
    const bad = await call<Refusal>(admin, "POST", "/v1/billing/checkout", {
      plan: "enterprise",
      success_url: "https://a.example/",
    });
    expect([bad.status, bad.body.error.code]).toEqual([422, "VALIDATION_FAILED"]);
  });

  it("a refusal from Stripe is 502 BILLING_PROVIDER_FAILED with Stripe's message, never the secret key", async () => {
    const other = await startTestRelay(db, {
      billing: {
        stripe: {
          secret_key: SECRET_KEY,
          webhook_secret: WEBHOOK_SECRET,
          prices: { pro: "price_gone", team: PRICES.team },
          api_base: stripe.base,
        },
      },
    });
    try {
      const res = await api<Refusal>(
        other.url,
        "POST",
        "/v1/billing/checkout",
        { plan: "pro", success_url: "https://a.example/" },
        admin,
      );
      expect(res.status).toBe(502);
      expect(res.body.error.code).toBe("BILLING_PROVIDER_FAILED");
      expect(res.body.error.message).toContain("No such price: 'price_gone'");
      expect(res.body.error.details).toMatchObject({
        provider: "stripe",
        status: 400,
        code: "resource_missing",
      });
      expect(JSON.stringify(res.body)).not.toContain(SECRET_KEY);
    } finally {
      await other.close();
    }
  });

  it("portal needs a billing customer: 409 before any subscription", async () => {
    const fresh = await createWorkspace(db, { name: "never-paid" });
    const key = (await createApiKey(db, fresh.workspaceId, { name: "admin", scopes: ["admin"] })).key;
    const res = await call<Refusal>(key, "POST", "/v1/billing/portal", {
      return_url: "https://app.example/",
    });
    expect([res.status, res.body.error.code]).toEqual([409, "BILLING_NO_CUSTOMER"]);
  });

  it("signed webhook events change the plan, link the customer, and record invoices, once per event id", async () => {
    const completed = checkoutCompleted(ws, "cus_test_1");
    const first = await deliver(completed);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({
      received: true,
      status: "applied",
      workspace_id: ws,
      plan: { from: "free", to: "pro" },
    });
    let b = await billing();
    expect([b.plan, b.customer_id, b.subscription_id, b.provider]).toEqual([
      "pro",
      "cus_test_1",
      "sub_cus_test_1",
      "stripe",
    ]);
    expect(b.history).toEqual([
      {
        plan: "pro",
        from: "free",
        source: "stripe",
        reference: "sub_cus_test_1",
        custom_limits: null,
        at: expect.any(String),
      },
    ]);

    // Stripe delivers again (or someone replays it with a fresh signature): nothing changes.
    const again = await deliver(completed);
    expect([again.status, again.body.status]).toEqual([200, "duplicate"]);
    expect((await billing()).history).toHaveLength(1);

    // A plan switched in the portal: the price says which; the customer says which workspace.
    const updated = await deliver(
      event("customer.subscription.updated", {
        id: "sub_cus_test_1",
        object: "subscription",
        customer: "cus_test_1",
        status: "active",
        metadata: {},
        items: { object: "list", data: [{ id: "si_1", price: { id: PRICES.team } }] },
      }),
    );
    expect(updated.body).toMatchObject({ status: "applied", plan: { from: "pro", to: "team" } });

    const invoice = {
      id: "in_test_1",
      object: "invoice",
      customer: "cus_test_1",
      subscription: "sub_cus_test_1",
      amount_due: 4900,
      amount_paid: 4900,
      currency: "usd",
      status: "paid",
      period_start: 1_767_225_600,
      period_end: 1_769_904_000,
      hosted_invoice_url: "https://invoice.stripe.com/i/test_1",
    };
    expect(
      (await deliver(event("invoice.payment_failed", { ...invoice, amount_paid: 0, status: "open" }))).status,
    ).toBe(200);
    b = await billing();
    expect(b.invoices).toEqual([
      {
        provider: "stripe",
        provider_id: "in_test_1",
        amount: 4900,
        currency: "usd",
        status: "payment_failed",
        period_start: "2026-01-01T00:00:00Z",
        period_end: "2026-02-01T00:00:00Z",
        hosted_url: "https://invoice.stripe.com/i/test_1",
      },
    ]);
    expect((await deliver(event("invoice.paid", invoice))).status).toBe(200);
    b = await billing();
    expect(b.invoices.map((i) => [i.provider_id, i.status, i.amount])).toEqual([["in_test_1", "paid", 4900]]);

    // The portal opens for the linked customer.
    const portal = await call<{ url: string }>(admin, "POST", "/v1/billing/portal", {
      return_url: "https://app.example/",
    });
    expect(portal.body.url).toBe("https://billing.stripe.com/p/session/test_cus_test_1");
    expect(stripe.calls.at(-1)?.form).toEqual({ customer: "cus_test_1", return_url: "https://app.example/" });
    // A second checkout reuses the customer.
    await call(admin, "POST", "/v1/billing/checkout", {
      plan: "team",
      success_url: "https://app.example/ok",
    });
    expect(stripe.calls.at(-1)?.form.customer).toBe("cus_test_1");

    const ended = await deliver(
      event("customer.subscription.deleted", {
        id: "sub_cus_test_1",
        object: "subscription",
        customer: "cus_test_1",
        status: "canceled",
      }),
    );
    expect(ended.body).toMatchObject({ status: "applied", plan: { from: "team", to: "free" } });
    b = await billing();
    expect([b.plan, b.subscription_id, b.customer_id]).toEqual(["free", null, "cus_test_1"]);
    expect(b.history.map((h) => `${h.from}→${h.plan}`)).toEqual(["team→free", "pro→team", "free→pro"]);
  });

  it("an unpaid checkout and an incomplete subscription change no plan; an unpaid one goes back to Free", async () => {
    const w = await createWorkspace(db, { name: "async-payment" });
    const key = (await createApiKey(db, w.workspaceId, { name: "admin", scopes: ["admin"] })).key;
    const unpaid = JSON.parse(checkoutCompleted(w.workspaceId, "cus_async")) as {
      data: { object: Record<string, unknown> };
    };
    unpaid.data.object.payment_status = "unpaid";
    expect((await deliver(JSON.stringify(unpaid))).body).toMatchObject({ status: "applied" });
    let shown = (await call<Billing>(key, "GET", "/v1/billing")).body;
    expect([shown.plan, shown.customer_id]).toEqual(["free", "cus_async"]);
    const subscription = (status: string) =>
      event("customer.subscription.updated", {
        id: "sub_async",
        object: "subscription",
        customer: "cus_async",
        status,
        items: { object: "list", data: [{ price: { id: PRICES.pro } }] },
      });
    expect((await deliver(subscription("incomplete"))).body.status).toBe("ignored");
    expect((await deliver(subscription("active"))).body).toMatchObject({ plan: { from: "free", to: "pro" } });
    expect((await deliver(subscription("incomplete"))).body.status).toBe("ignored");
    expect((await deliver(subscription("unpaid"))).body).toMatchObject({ plan: { from: "pro", to: "free" } });
    shown = (await call<Billing>(key, "GET", "/v1/billing")).body;
    expect(shown.history.map((h) => `${h.from}→${h.plan}`)).toEqual(["pro→free", "free→pro"]);
  });

  it("forged, tampered, unsigned and expired deliveries are refused with 400 WEBHOOK_SIGNATURE_INVALID and change nothing", async () => {
    const target = await createWorkspace(db, { name: "target" });
    const payload = checkoutCompleted(target.workspaceId, "cus_forged");
    const old = Math.floor(Date.now() / 1000) - 301;
    const cases: [string, string, string | null][] = [
      ["forged", payload, stripeSignatureHeader(payload, "whsec_someone_else")],
      [
        "tampered",
        payload.replace('"plan":"pro"', '"plan":"team"'),
        stripeSignatureHeader(payload, WEBHOOK_SECRET),
      ],
      ["unsigned", payload, null],
      ["expired", payload, stripeSignatureHeader(payload, WEBHOOK_SECRET, old)],
      ["no v1", payload, `t=${Math.floor(Date.now() / 1000)},v0=${"0".repeat(64)}`],
    ];
    for (const [what, body, signature] of cases) {
      const res = await deliver(body, signature);
      expect([what, res.status, res.body.error?.code]).toEqual([what, 400, "WEBHOOK_SIGNATURE_INVALID"]);
    }
    const key = (await createApiKey(db, target.workspaceId, { name: "admin", scopes: ["admin"] })).key;
    const shown = await call<Billing>(key, "GET", "/v1/billing");
    expect([shown.body.plan, shown.body.customer_id, shown.body.history]).toEqual(["free", null, []]);
  });

  it("an upgrade by webhook applies to the quota at once; events about nobody are acknowledged and ignored", async () => {
    const w = await createWorkspace(db, { name: "upgrade-now" });
    const key = (await createApiKey(db, w.workspaceId, { name: "admin", scopes: ["admin"] })).key;
    const period = new Date().toISOString().slice(0, 7);
    await db.tx(w.workspaceId, (sql) =>
      sql.query("INSERT INTO usage (workspace_id, period, queries) VALUES ($1, $2, 10000)", [
        w.workspaceId,
        period,
      ]),
    );
    expect((await call(key, "POST", "/v1/recall", { query: "x" })).status).toBe(429);
    expect((await deliver(checkoutCompleted(w.workspaceId, "cus_upgrade_now"))).status).toBe(200);
    // The relay's plan cache (5 s) was dropped by the webhook: the next recall is on Pro.
    expect((await call(key, "POST", "/v1/recall", { query: "x" })).status).toBe(200);

    const unknown = await deliver(
      event("invoice.paid", { id: "in_x", customer: "cus_nobody", amount_paid: 1, currency: "usd" }),
    );
    expect([unknown.status, unknown.body.status]).toEqual([200, "ignored"]);
    const other = await deliver(event("charge.refunded", { id: "ch_1" }));
    expect([other.status, other.body.status]).toEqual([200, "ignored"]);
  });
});
