/**
 * Usage against the plan's limits: now, by day over the last 30 days (a chart per measure with
 * the limit drawn, and the same numbers as a table), and by month (`GET /v1/usage?days=30`).
 */
import type { UsageDay } from "@tribalmemory/sync-server/store/pg-usage-days";
import { api } from "../api.ts";
import { type ChartPoint, DayChart } from "../chart.tsx";
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
  days: UsageDay[];
}

const DAYS = 30;

/**
 * Recalls so far in each day's month, the figure the monthly limit applies to: a month's total
 * (from `periods`) less the recalls of its days after this one, so it is exact even for a month
 * that began before the 30 days shown.
 */
function recallsInMonth(u: Usage): ChartPoint[] {
  const totals = new Map(u.periods.map((p) => [p.period, p.queries]));
  const after = new Map<string, number>();
  const points: ChartPoint[] = [];
  for (const d of [...u.days].reverse()) {
    const month = d.day.slice(0, 7);
    const later = after.get(month) ?? 0;
    points.push({ day: d.day, value: Math.max(0, (totals.get(month) ?? 0) - later) });
    after.set(month, later + d.queries);
  }
  return points.reverse();
}

function Charts({ u }: { u: Usage }) {
  const series = (pick: (d: UsageDay) => number | null): ChartPoint[] =>
    u.days.map((d) => ({ day: d.day, value: pick(d) }));
  const count = (n: number) => n.toLocaleString();
  return (
    <>
      <div class="charts">
        <DayChart
          label="Memories"
          points={series((d) => d.memories)}
          limit={u.limits.memories}
          format={count}
        />
        <DayChart
          label="Recalls this month"
          points={recallsInMonth(u)}
          limit={u.limits.queries}
          format={count}
        />
        <DayChart
          label="Agents this month"
          points={series((d) => d.agents)}
          limit={u.agents.limit}
          format={count}
        />
        <DayChart label="Storage" points={series((d) => d.storage_bytes)} limit={null} format={bytes} />
        <DayChart label="Writes a day" points={series((d) => d.writes)} limit={null} format={count} />
        <DayChart label="Embeds a day" points={series((d) => d.embeds)} limit={null} format={count} />
      </div>
      <details>
        <summary>The last {DAYS} days as a table</summary>
        <Scroll label="Usage by day">
          <table>
            <thead>
              <tr>
                <th scope="col">Day</th>
                <th scope="col">Memories</th>
                <th scope="col">Recalls</th>
                <th scope="col">Writes</th>
                <th scope="col">Embeds</th>
                <th scope="col">Agents</th>
                <th scope="col">Storage</th>
              </tr>
            </thead>
            <tbody>
              {[...u.days].reverse().map((d) => (
                <tr key={d.day}>
                  <th scope="row">{d.day}</th>
                  <td>{d.memories ?? "—"}</td>
                  <td>{d.queries}</td>
                  <td>{d.writes}</td>
                  <td>{d.embeds}</td>
                  <td>{d.agents ?? "—"}</td>
                  <td>{bytes(d.storage_bytes)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </Scroll>
      </details>
    </>
  );
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
  const usage = useLoad(() => api<Usage>("GET", `/v1/usage?days=${DAYS}`), []);
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
          <h2>The last {DAYS} days</h2>
          <Charts u={u} />
          <h2>By month</h2>
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
