/** Usage against the plan's limits, this month and the months before (`GET /v1/usage`). */
import { api } from "../api.ts";
import { bytes, ErrorNote, Loading, Page, Scroll, useLoad } from "../ui.tsx";

interface Usage {
  period: string;
  resets_at: string;
  plan: string;
  memories: number;
  storage_bytes: number;
  queries: number;
  writes: number;
  embeds: number;
  limits: { memories: number | null; queries: number | null; agents: number | null };
  agents: {
    count: number;
    limit: number | null;
    list: { id: string; kind: string; first_seen_at: string }[];
  };
  periods: { period: string; queries: number; writes: number; embeds: number }[];
}

function Gauge({
  label,
  value,
  limit,
  unit,
}: {
  label: string;
  value: number;
  limit: number | null;
  unit?: (n: number) => string;
}) {
  const fmt = unit ?? ((n: number) => n.toLocaleString());
  const full = limit !== null && value >= limit;
  return (
    <div class={full ? "gauge full" : "gauge"}>
      <p>
        <strong>{label}</strong>: {fmt(value)} {limit === null ? "(no limit)" : `of ${fmt(limit)}`}
        {full && <span class="warn"> · limit reached</span>}
      </p>
      {limit !== null && (
        <meter
          min={0}
          max={limit}
          high={limit * 0.8}
          optimum={0}
          value={Math.min(value, limit)}
          aria-label={`${label} against the limit`}
        />
      )}
    </div>
  );
}

export function UsagePage() {
  const usage = useLoad(() => api<Usage>("GET", "/v1/usage"), []);
  if (usage.loading && !usage.data) return <Loading what="usage" />;
  const u = usage.data;
  const peak = Math.max(1, ...(u?.periods.map((p) => p.queries + p.writes) ?? [1]));
  return (
    <Page title="Usage">
      <ErrorNote error={usage.error} />
      {u && (
        <>
          <p>
            Plan <strong>{u.plan}</strong>, period {u.period} (resets{" "}
            {new Date(u.resets_at).toLocaleDateString()}). <a href="/billing">Plan &amp; billing</a>
          </p>
          <Gauge label="Memories" value={u.memories} limit={u.limits.memories} />
          <Gauge label="Recalls this month" value={u.queries} limit={u.limits.queries} />
          <Gauge label="Agents this month" value={u.agents.count} limit={u.agents.limit} />
          <Gauge label="Storage" value={u.storage_bytes} limit={null} unit={bytes} />
          <h2>Over time</h2>
          <Scroll label="Usage by month">
            <table>
              <thead>
                <tr>
                  <th scope="col">Month</th>
                  <th scope="col">Recalls</th>
                  <th scope="col">Writes</th>
                  <th scope="col">Embeds</th>
                  <th scope="col">Activity</th>
                </tr>
              </thead>
              <tbody>
                {u.periods.map((p) => (
                  <tr key={p.period}>
                    <th scope="row">{p.period}</th>
                    <td>{p.queries}</td>
                    <td>{p.writes}</td>
                    <td>{p.embeds}</td>
                    <td>
                      <meter
                        min={0}
                        max={peak}
                        value={p.queries + p.writes}
                        aria-label={`Activity in ${p.period}`}
                      />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </Scroll>
          <h2>Agents this month</h2>
          <ul class="plain">
            {u.agents.list.map((a) => (
              <li key={`${a.kind}:${a.id}`}>
                {a.id} <span class="muted">({a.kind})</span>
              </li>
            ))}
          </ul>
        </>
      )}
    </Page>
  );
}
