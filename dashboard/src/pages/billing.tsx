/** The workspace's plan, what each plan allows, and the provider's checkout and portal. */
import { api } from "../api.ts";
import { hasRole, useSession } from "../session.ts";
import { ErrorNote, Loading, Page, Scroll, useAction, useLoad, when } from "../ui.tsx";

interface Limits {
  memories: number | null;
  queries_per_month: number | null;
  agents: number | null;
}

interface Billing {
  plan: string;
  provider: string | null;
  limits: Limits;
  customer_id: string | null;
  history: { plan: string; from: string | null; at?: string; source?: string }[];
}

interface Plans {
  plans: { id: string; name: string; limits: Limits; self_serve: boolean }[];
}

const limit = (n: number | null) => (n === null ? "unlimited" : n.toLocaleString());

export function BillingPage() {
  const { workspace } = useSession();
  const admin = hasRole(workspace, "admin");
  const data = useLoad(async () => {
    const plans = await api<Plans>("GET", "/v1/plans");
    const billing = admin ? await api<Billing>("GET", "/v1/billing") : null;
    return { plans, billing };
  }, [admin]);
  const action = useAction();
  if (data.loading && !data.data) return <Loading what="plans" />;
  const billing = data.data?.billing ?? null;
  const back = `${location.origin}/billing`;
  const go = async (path: string, body: unknown) => {
    const answer = await action.run(() => api<{ url: string }>("POST", path, body));
    if (answer) location.assign(answer.url);
  };
  return (
    <Page title="Plan & billing">
      <ErrorNote error={data.error} />
      <ErrorNote error={action.error} />
      {billing ? (
        <p>
          This workspace is on the <strong>{billing.plan}</strong> plan.{" "}
          {billing.provider
            ? `Payments through ${billing.provider}.`
            : "This relay takes no payments: its admin sets plans."}
        </p>
      ) : (
        <p>Owners and admins see and change the workspace’s plan.</p>
      )}
      <Scroll label="Plans">
        <table>
          <thead>
            <tr>
              <th scope="col">Plan</th>
              <th scope="col">Memories</th>
              <th scope="col">Recalls a month</th>
              <th scope="col">Agents</th>
              <th scope="col">
                <span class="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {data.data?.plans.plans.map((p) => (
              <tr key={p.id} aria-current={billing?.plan === p.id ? "true" : undefined}>
                <th scope="row">{p.name}</th>
                <td>{limit(p.limits.memories)}</td>
                <td>{limit(p.limits.queries_per_month)}</td>
                <td>{limit(p.limits.agents)}</td>
                <td>
                  {billing?.plan === p.id
                    ? "current"
                    : admin &&
                      p.self_serve && (
                        <button
                          type="button"
                          disabled={action.busy}
                          onClick={() => go("/v1/billing/checkout", { plan: p.id, success_url: back })}
                        >
                          Choose {p.name}
                        </button>
                      )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </Scroll>
      {billing?.customer_id && (
        <button
          type="button"
          disabled={action.busy}
          onClick={() => go("/v1/billing/portal", { return_url: back })}
        >
          Manage billing and invoices
        </button>
      )}
      {billing && billing.history.length > 0 && (
        <>
          <h2>Plan history</h2>
          <ul class="plain">
            {billing.history.map((h, i) => (
              <li key={i}>
                {h.from ?? "—"} → {h.plan} {h.at ? when(h.at) : ""} {h.source ? `(${h.source})` : ""}
              </li>
            ))}
          </ul>
        </>
      )}
    </Page>
  );
}
